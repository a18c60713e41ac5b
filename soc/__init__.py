"""The simulated silicon and board: bus, clock, interrupts, controllers, endpoints."""

from soc import compiled

compiled.guard()
