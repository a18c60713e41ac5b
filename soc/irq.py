"""Interrupt lines and the CPU side that runs bottom halves.

Counterpart: the GIC (numbered lines, enable/mask, pending) and the softirq machinery
that tasklets ride on. The top half (the handler a driver registered with
``request_irq``) runs synchronously where the hardware raised the line; it must be
short. Bottom halves are deferred to :class:`Cpu`, which runs them later on the
CPU side: on the virtual clock as an event ``bh_latency_ns`` after they were raised.

Lines are level-triggered, as the PL080's combined interrupt output is: a handler
runs when an enabled line is asserted and runs again while the line stays asserted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from soc.clock import Event, VirtualClock

IrqHandler = Callable[[int], None]


@dataclass
class IrqAction:
    name: str
    handler: IrqHandler


class InterruptController:
    """Numbered level-triggered lines with enable, pending and per-line counts."""

    def __init__(self, nr_lines: int = 64) -> None:
        self.nr_lines = nr_lines
        self.actions: dict[int, IrqAction] = {}
        self.enabled = [False] * nr_lines
        self.asserted = [False] * nr_lines
        self.count = [0] * nr_lines
        self._in_handler = [False] * nr_lines

    def _check(self, line: int) -> None:
        if not 0 <= line < self.nr_lines:
            raise ValueError(f"no interrupt line {line} (0..{self.nr_lines - 1})")

    def request_irq(self, line: int, handler: IrqHandler, name: str) -> None:
        self._check(line)
        if line in self.actions:
            raise OSError(16, f"irq {line} already claimed by {self.actions[line].name}")
        self.actions[line] = IrqAction(name, handler)
        self.enabled[line] = True
        self._deliver(line)

    def free_irq(self, line: int) -> None:
        self.actions.pop(line, None)
        self.enabled[line] = False

    def enable_irq(self, line: int) -> None:
        self.enabled[line] = True
        self._deliver(line)

    def disable_irq(self, line: int) -> None:
        self.enabled[line] = False

    def set_level(self, line: int, asserted: bool) -> None:
        """The hardware drives the line; an enabled asserted line runs its handler."""
        self.asserted[line] = asserted
        if asserted:
            self._deliver(line)

    def pending(self, line: int) -> bool:
        return self.asserted[line] and not self.enabled[line]

    def _deliver(self, line: int) -> None:
        action = self.actions.get(line)
        if action is None or self._in_handler[line]:
            return
        self._in_handler[line] = True
        try:
            spins = 0
            while self.asserted[line] and self.enabled[line]:
                self.count[line] += 1
                action.handler(line)
                spins += 1
                if spins > 1000:
                    raise RuntimeError(f"irq {line} ({action.name}): handler does not clear")
        finally:
            self._in_handler[line] = False


class Cpu:
    """Where bottom halves run: an event on the virtual clock, after a latency.

    ``bh_latency_ns`` is injected interrupt-to-bottom-half latency: raise it above a
    period and several period interrupts reach one tasklet run (coalesced callbacks).
    """

    def __init__(self, clock: VirtualClock, bh_latency_ns: int = 0) -> None:
        self.clock = clock
        self.bh_latency_ns = bh_latency_ns

    def defer(self, fn: Callable[[], None]) -> Event:
        return self.clock.call_later(self.bh_latency_ns, fn)

    def cancel(self, handle: Event) -> None:
        self.clock.cancel(handle)
