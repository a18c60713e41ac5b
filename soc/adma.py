"""A memory-to-memory XOR and P+Q engine for RAID, the hardware model.

Counterpart: none in mainline by this name; an engine in the manner of those Linux drives
for RAID (iop-adma, mv_xor): chained descriptors in coherent memory, up to 16 sources a
descriptor, XOR, the RAID-6 P+Q syndrome over GF(2^8) (polynomial 0x11d, each source with
its own coefficient), validations that write what they found not zero into the
descriptor, and a null descriptor that only interrupts. The GF multiply is the
engine's own (shift and add, as a multiplier in silicon), so that the tests can hold it
against the CPU's tables. Channels work at ``bytes_per_us`` each, reading every source
once; a descriptor's result is written when its time is up, in one vectorised step. A
descriptor's NEXT is read when it completes, so a driver may link more work behind the
last one while the channel runs; an idle channel (EOC) starts again from NDAR.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Final

import numpy as np

from soc.bus import Bus, BusError
from soc.clock import VirtualClock
from soc.irq import InterruptController

# Channel registers, at CH_STRIDE * n
CH_STRIDE: Final = 0x40
CCR: Final = 0x00  # channel control
CSR: Final = 0x04  # channel status
NDAR: Final = 0x08  # next descriptor address
CDAR: Final = 0x0C  # current descriptor address
IMR: Final = 0x10  # interrupt mask (CSR's EOC, EOD, ERR bits)
CCR_ENABLE: Final = 1 << 0  # run from NDAR (on an idle channel)
CSR_BUSY: Final = 1 << 0
CSR_EOC: Final = 1 << 1  # end of chain (write 1 to clear)
CSR_EOD: Final = 1 << 2  # a descriptor with INT done (write 1 to clear)
CSR_ERR: Final = 1 << 3  # a bus error: the channel stopped (write 1 to clear)

# Descriptors: 32-bit words, DESC_BYTES apart
DESC_BYTES: Final = 128
D_NEXT, D_CTRL, D_BYTES, D_DEST, D_Q, D_STATUS, D_SRC = 0, 1, 2, 3, 4, 5, 6
D_COEF: Final = D_SRC + 16  # 16 coefficient bytes, 4 a word
MAX_SOURCES: Final = 16
OP_NULL, OP_MEMCPY, OP_XOR, OP_XOR_VAL, OP_PQ, OP_PQ_VAL = 0, 1, 2, 3, 4, 5
CTRL_OP_MASK: Final = 0xF
CTRL_SRC_SHIFT: Final = 8  # [12:8]: sources
CTRL_INT: Final = 1 << 16  # interrupt when done
CTRL_P_DIS: Final = 1 << 17  # P+Q: no P
CTRL_Q_DIS: Final = 1 << 18  # P+Q: no Q
CTRL_CONT: Final = 1 << 19  # P+Q: add to the P and Q already there (a continuation)
ST_DONE: Final = 1 << 0
ST_P_FAIL: Final = 1 << 1  # validation: the P (or XOR) sum was not zero
ST_Q_FAIL: Final = 1 << 2
ST_ERR: Final = 1 << 3

log = logging.getLogger(__name__)


def gf_mul_engine(c: int, data: np.ndarray) -> np.ndarray:
    """``c`` times each byte of ``data`` in GF(2^8), 0x11d: shift and add, a bit of ``c``
    at a time, as the engine's multiplier does it."""
    out = np.zeros_like(data)
    x = data.copy()
    while c:
        if c & 1:
            out ^= x
        c >>= 1
        carry = x & 0x80
        x = (x << 1) & 0xFF
        x ^= np.where(carry != 0, 0x1D, 0).astype(np.uint8)
    return out


class AdmaChannel:
    def __init__(self) -> None:
        self.ccr = 0
        self.csr = 0
        self.ndar = 0
        self.cdar = 0
        self.imr = 0
        self.carry = 0  # work done on the current descriptor, in byte-ns units


class Adma:
    """The engine: ``channels`` channels, one interrupt line."""

    def __init__(self, bus: Bus, clock: VirtualClock, irqc: InterruptController, irq: int,
                 base: int, channels: int = 2, bytes_per_us: int = 1600,
                 name: str = "adma") -> None:
        self.bus, self.clock, self.irqc, self.irq = bus, clock, irqc, irq
        self.base, self.name = base, name
        self.channels = [AdmaChannel() for _ in range(channels)]
        self.bytes_per_us = bytes_per_us
        self.now_ns = clock.now_ns
        self.unknown_accesses = 0
        self.descriptors_done = 0
        # Fault injection: a function that may alter a result on its way to memory
        self.corrupt: Callable[[np.ndarray], None] | None = None
        self._read: dict[int, Callable[[AdmaChannel], int]] = {
            CCR: lambda ch: ch.ccr, CSR: lambda ch: ch.csr | (CSR_BUSY if ch.cdar else 0),
            NDAR: lambda ch: ch.ndar, CDAR: lambda ch: ch.cdar, IMR: lambda ch: ch.imr}
        self._write: dict[int, Callable[[AdmaChannel, int], None]] = {
            CCR: self._write_ccr, CSR: self._write_csr,
            NDAR: lambda ch, v: setattr(ch, "ndar", v), IMR: self._write_imr}
        bus.add_mmio(name, base, 0x1000, self)
        clock.add_agent(self)

    # -- registers --

    def _decode(self, off: int) -> tuple[AdmaChannel, int] | None:
        n, reg = divmod(off, CH_STRIDE)
        if n < len(self.channels) and (reg in self._read):
            return self.channels[n], reg
        return None

    def mmio_read(self, off: int) -> int:
        found = self._decode(off)
        if found is None:
            self._unknown("read", off)
            return 0
        return self._read[found[1]](found[0]) & 0xFFFFFFFF

    def mmio_reader(self, off: int) -> Callable[[], int]:
        return lambda: self.mmio_read(off)

    def mmio_write(self, off: int, value: int) -> None:
        found = self._decode(off)
        if found is None or found[1] not in self._write:
            self._unknown("write", off)
            return
        self._write[found[1]](found[0], value)

    def _unknown(self, access: str, off: int) -> None:
        self.unknown_accesses += 1
        log.warning("%s: %s of unknown register offset 0x%03x", self.name, access, off)

    def _write_ccr(self, ch: AdmaChannel, value: int) -> None:
        ch.ccr = value & CCR_ENABLE
        if value & CCR_ENABLE and not ch.cdar and ch.ndar:
            ch.cdar, ch.carry = ch.ndar, 0
            self._run_nulls(ch)

    def _write_csr(self, ch: AdmaChannel, value: int) -> None:
        ch.csr &= ~(value & (CSR_EOC | CSR_EOD | CSR_ERR))
        self._update_irq()

    def _write_imr(self, ch: AdmaChannel, value: int) -> None:
        ch.imr = value & (CSR_EOC | CSR_EOD | CSR_ERR)
        self._update_irq()

    def _update_irq(self) -> None:
        self.irqc.set_level(self.irq, any(ch.csr & ch.imr for ch in self.channels))

    # -- descriptors --

    def _words(self, addr: int, first: int, count: int) -> tuple[int, ...]:
        raw = bytes(self.bus.ram_view(addr + 4 * first, 4 * count, False))
        return struct.unpack(f"<{count}I", raw)

    def _cost(self, addr: int) -> int:
        """Bytes the engine reads for the descriptor at ``addr`` (its time's measure)."""
        ctrl, nbytes = self._words(addr, D_CTRL, 2)
        op = ctrl & CTRL_OP_MASK
        if op == OP_NULL:
            return 0
        srcs = (ctrl >> CTRL_SRC_SHIFT) & 0x1F
        return nbytes * max(srcs + (2 if op == OP_PQ_VAL else 1 if op == OP_XOR_VAL else 0),
                            1)

    def _store(self, addr: int, data: np.ndarray) -> None:
        if self.corrupt is not None:
            data = data.copy()
            self.corrupt(data)
        self.bus.ram_view(addr, len(data), True)[:] = data

    def _execute(self, addr: int) -> int:
        """Do the descriptor at ``addr``; the status word it wrote back."""
        ctrl, nbytes, dest, qaddr = self._words(addr, D_CTRL, 4)
        op = ctrl & CTRL_OP_MASK
        nsrc = min((ctrl >> CTRL_SRC_SHIFT) & 0x1F, MAX_SOURCES)
        srcs = self._words(addr, D_SRC, nsrc) if nsrc else ()
        coefs = bytes(self.bus.ram_view(addr + 4 * D_COEF, MAX_SOURCES, False))
        status = ST_DONE
        if op == OP_NULL:
            return status
        views = [self.bus.ram_view(s, nbytes, False) for s in srcs]
        if op == OP_MEMCPY:
            self._store(dest, views[0])
            return status
        p = np.bitwise_xor.reduce(np.stack(views), axis=0) if views else np.zeros(
            nbytes, np.uint8)
        if op == OP_XOR:
            self._store(dest, p)
            return status
        if op == OP_XOR_VAL:
            return status | (ST_P_FAIL if p.any() else 0)
        q = np.zeros(nbytes, np.uint8)
        for c, v in zip(coefs, views, strict=False):
            q ^= gf_mul_engine(c, v)
        if op == OP_PQ:
            if ctrl & CTRL_CONT:  # continue: what is in P and Q already is added to
                p ^= self.bus.ram_view(dest, nbytes, False)
                q ^= self.bus.ram_view(qaddr, nbytes, False)
            if not ctrl & CTRL_P_DIS:
                self._store(dest, p)
            if not ctrl & CTRL_Q_DIS:
                self._store(qaddr, q)
            return status
        if op == OP_PQ_VAL:
            if not ctrl & CTRL_P_DIS and (p ^ self.bus.ram_view(dest, nbytes, False)).any():
                status |= ST_P_FAIL
            if not ctrl & CTRL_Q_DIS and (q ^ self.bus.ram_view(qaddr, nbytes, False)).any():
                status |= ST_Q_FAIL
            return status
        raise ValueError(f"unknown operation {op}")

    def _complete(self, ch: AdmaChannel) -> None:
        """The current descriptor is done: its status written back, its interrupt, the
        next one."""
        addr = ch.cdar
        try:
            status = self._execute(addr)
            ctrl = self._words(addr, D_CTRL, 1)[0]
            nxt = self._words(addr, D_NEXT, 1)[0]
            self.bus.ram_view(addr + 4 * D_STATUS, 4, True)[:] = np.frombuffer(
                struct.pack("<I", status), np.uint8)
        except (BusError, ValueError) as e:
            log.warning("%s: descriptor at %#x: %s", self.name, addr, e)
            ch.csr |= CSR_ERR
            ch.cdar = 0
            self._update_irq()
            return
        self.descriptors_done += 1
        if ctrl & CTRL_INT:
            ch.csr |= CSR_EOD
        ch.cdar, ch.carry = nxt, 0
        if not nxt:
            ch.csr |= CSR_EOC
        self._update_irq()

    def _run_nulls(self, ch: AdmaChannel) -> None:
        """Descriptors that read nothing (null, or zero bytes) complete at once."""
        while ch.cdar and self._cost(ch.cdar) == 0:
            self._complete(ch)

    # -- the clock agent --

    def next_event_ns(self) -> int | None:
        best = None
        for ch in self.channels:
            if ch.cdar:
                need = max(self._cost(ch.cdar) * 1000 - ch.carry, 0)
                t = self.now_ns + -(-need // self.bytes_per_us)
                best = t if best is None else min(best, t)
        return best

    def advance_to(self, t_ns: int) -> None:
        elapsed = max(t_ns - self.now_ns, 0)
        self.now_ns = t_ns
        for ch in self.channels:
            budget = elapsed * self.bytes_per_us
            while ch.cdar:
                need = self._cost(ch.cdar) * 1000 - ch.carry
                if need > budget:
                    ch.carry += budget
                    break
                budget -= max(need, 0)
                self._complete(ch)
