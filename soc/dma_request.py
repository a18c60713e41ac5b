"""The DMA request interface between a DMA controller and its peripherals.

Counterpart: none in the kernel: the handshake wires of an AMBA DMA controller (the
PL080's DMACBREQ/DMACSREQ, the PL330's peripheral request interface), in the closed form
the model uses: a peripheral asks for the bytes it wants now, in whole bursts, and learns
how far the controller will go before it may interrupt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class DmaRequestInterface:
    """What a peripheral (the I2S FIFOs) sees of the controller serving its request lines."""

    def __init__(self) -> None:
        self.peripherals: dict[int, Any] = {}  # request line -> the peripheral driving it
        # Bumped whenever what a peripheral caches of the channel serving it (its burst,
        # its route) may have changed.
        self.generation = 0
        # Probes on a transfer's interrupt (a PL080 terminal count, a PL330 DMASEV):
        # fn(to_periph, now_ns) as the controller raises it; to_periph says whether the
        # transfer was memory to peripheral.
        self.tc_probes: list[Callable[[bool, int], None]] = []
        # trace hooks: fn(event, message) as a transfer switches to its next LLI or
        # request, and as it raises its interrupt
        self.trace: list[Callable[[str, str], None]] = []

    def connect_request_line(self, line: int, peripheral: Any) -> None:
        """Wire a peripheral's request output to ``line`` (it gets ``dma_request_ready``)."""
        self.peripherals[line] = peripheral

    def dma_request(self, line: int, nbytes: int, to_periph: bool) -> int:
        """The peripheral asserts ``line`` for up to ``nbytes``; the bytes moved.

        ``to_periph`` says which way: a TX FIFO wants data (memory to peripheral), an RX
        FIFO has data (peripheral to memory)."""
        raise NotImplementedError

    def burst_bytes(self, line: int, to_periph: bool) -> int | None:
        """Bytes per burst on the peripheral's side of the channel serving ``line``."""
        raise NotImplementedError

    def bytes_to_event(self, line: int, to_periph: bool) -> int | None:
        """Bytes the channel serving ``line`` moves on the peripheral's side before it may
        next interrupt; None when no channel serves it."""
        raise NotImplementedError
