"""Fault injection on a built board, scheduled on its clock: bus errors, a starved request
line, lost and late interrupts, corrupted transfers; and a watch on terminal counts.

Counterpart: the kernel's fault-injection framework and snd-pcmtest's delayed ticks,
moved down to the silicon (docs/design-notes.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from soc.platform import Soc


class FaultInjector:
    def __init__(self, soc: Soc) -> None:
        self.soc = soc
        self.clock = soc.clock
        self.log: list[tuple[int, str]] = []  # (ns, what happened)

    def _at(self, at_ns: int, fn, what: str) -> None:
        def fire() -> None:
            self.log.append((self.clock.now_ns, what))
            for hook in self.soc.trace:
                hook("fault_injected", what)
            fn()

        self.clock.schedule(at_ns, fire)

    def bus_error(self, at_ns: int, addr: int, size: int) -> None:
        self._at(at_ns, lambda: self.soc.bus.inject_error(addr, size),
                 f"bus error armed on {addr:#x}+{size:#x}")

    def starve(self, at_ns: int, duration_ns: int, line: int, dmac: str = "dma0") -> None:
        dma = self.soc.hw[dmac]
        self._at(at_ns, lambda: dma.starve(line, True), f"DMA request line {line} starved")
        self._at(at_ns + duration_ns, lambda: dma.starve(line, False),
                 f"DMA request line {line} served again")

    def lose_interrupts(self, rate: float, seed: int = 0) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"lost interrupt rate {rate} is not between 0 and 1")
        rng = np.random.default_rng(seed)
        self.soc.irqc.lose = (lambda line: bool(rng.random() < rate)) if rate else None

    def irq_latency(self, latency_ns: int) -> None:
        if latency_ns < 0:
            raise ValueError(f"interrupt latency {latency_ns} ns is negative")
        self.soc.cpu.bh_latency_ns = latency_ns

    def stuck_active(self, channel: int, on: bool = True, dmac: str = "dma0") -> None:
        """Physical ``channel``'s CONFIG reads Active (set) whatever it does, as a channel
        whose peripheral keeps requesting; ``on`` False lets it read true again."""
        dma = self.soc.hw[dmac]
        ch = dma.channels[channel]
        if on and ch not in dma.stuck_active:
            dma.stuck_active.append(ch)
        elif not on and ch in dma.stuck_active:
            dma.stuck_active.remove(ch)

    def corrupt_data(self, rate: float, seed: int = 0, dmac: str = "dma0") -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"corruption rate {rate} is not between 0 and 1")
        rng = np.random.default_rng(seed)

        def flip(data: np.ndarray) -> None:
            if data.size and rng.random() < rate:
                data[int(rng.integers(0, data.size))] ^= 0x01

        self.soc.hw[dmac].corrupt = flip if rate else None


class TcWatch:
    """Calls ``fn(now_ns)`` as the DMA controller raises a transfer's interrupt (a
    terminal count, a DMASEV) on a memory-to-peripheral channel; :meth:`close` stops it."""

    def __init__(self, soc: Soc, fn: Callable[[int], None], dmac: str = "dma0") -> None:
        self.dma = soc.hw[dmac]
        self.fn = fn
        self.dma.tc_probes.append(self._on_tc)

    def _on_tc(self, to_periph: bool, now_ns: int) -> None:
        if to_periph:
            self.fn(now_ns)

    def close(self) -> None:
        if self._on_tc in self.dma.tc_probes:
            self.dma.tc_probes.remove(self._on_tc)
