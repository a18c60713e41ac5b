"""Hardware fault injection on a built board, scheduled on its clock.

Counterpart: the kernel's fault-injection framework and the delayed timer ticks and
failing callbacks of snd-pcmtest, moved down to the silicon: here the faults are in the
hardware and the interrupt path, and the drivers above meet them exactly as they would
meet the real thing.

- ``bus_error(at_ns, addr, size)``: at ``at_ns`` the next bus-master access to the range
  gets ERROR (for a ring: the DMA's next read of it; the channel then disables itself and
  raises its error interrupt);
- ``starve(at_ns, duration_ns, line)``: the DMA stops serving a request line for a while,
  so the peripheral's FIFO runs dry (TX) or overflows (RX);
- ``lose_interrupts(rate, seed)``: that fraction of top-half deliveries is lost;
- ``irq_latency(ns)``: bottom halves run that long after their top half (a busy CPU);
- ``corrupt_data(rate, seed)``: that fraction of the DMA's transfers has one bit flipped on
  its way to the destination (what dmatest's verification must catch).

``TcWatch`` observes instead of breaking: the terminal-count interrupts a DMA controller
raises on its memory-to-peripheral channels, with the time each was raised.

Each method only arranges the fault; the clock (virtual or real) makes it happen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from soc.pl080 import FLOW_M2P
from soc.platform import Soc


class FaultInjector:
    def __init__(self, soc: Soc) -> None:
        self.soc = soc
        self.clock = soc.clock
        self.log: list[tuple[int, str]] = []  # (ns, what happened)

    def _at(self, at_ns: int, fn, what: str) -> None:
        def fire() -> None:
            self.log.append((self.clock.now_ns, what))
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

    def corrupt_data(self, rate: float, seed: int = 0, dmac: str = "dma0") -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"corruption rate {rate} is not between 0 and 1")
        rng = np.random.default_rng(seed)

        def flip(data: np.ndarray) -> None:
            if data.size and rng.random() < rate:
                data[int(rng.integers(0, data.size))] ^= 0x01

        self.soc.hw[dmac].corrupt = flip if rate else None


class TcWatch:
    """Calls ``fn(now_ns)`` as the DMA controller raises a terminal count on a
    memory-to-peripheral channel; :meth:`close` stops it."""

    def __init__(self, soc: Soc, fn: Callable[[int], None], dmac: str = "dma0") -> None:
        self.dma = soc.hw[dmac]
        self.fn = fn
        self.dma.tc_probes.append(self._on_tc)

    def _on_tc(self, n: int, ch, now_ns: int) -> None:
        if ch.flow == FLOW_M2P:
            self.fn(now_ns)

    def close(self) -> None:
        if self._on_tc in self.dma.tc_probes:
            self.dma.tc_probes.remove(self._on_tc)
