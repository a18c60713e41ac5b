"""The simulated silicon and board: bus, clock, interrupts, controllers, endpoints."""
