"""ARM PrimeCell PL330 (DMA-330) DMA controller, the hardware model (QEMU's hw/dma/pl330.c
in spirit).

A manager thread and ``channels`` channel threads; each channel thread runs microcode
from memory. Instructions are decoded through a table (opcode, mask, size), registers
through tables; an unknown offset is logged, counted and reads 0. A loop whose body only
waits for a peripheral, loads and stores runs all the iterations it can in one step: one
copy of their bytes. What is simplified: docs/design-notes.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Final

import numpy as np

from soc.bus import Bus, BusError
from soc.clock import VirtualClock
from soc.dma_request import DmaRequestInterface
from soc.irq import InterruptController

# Registers
DSR: Final = 0x000
DPC: Final = 0x004
INTEN: Final = 0x020
INT_EVENT_RIS: Final = 0x024
INTMIS: Final = 0x028
INTCLR: Final = 0x02C
FSRD: Final = 0x030
FSRC: Final = 0x034
FTRD: Final = 0x038
FTR_BASE: Final = 0x040  # FTRn at 0x040 + 4n
CSR_BASE: Final = 0x100  # CSRn at 0x100 + 8n, CPCn at 0x104 + 8n
CH_BASE: Final = 0x400  # SARn, DARn, CCRn, LC0n, LC1n at 0x400 + 0x20n
CH_STRIDE: Final = 0x20
SAR: Final = 0x00
DAR: Final = 0x04
CCR: Final = 0x08
LC0: Final = 0x0C
LC1: Final = 0x10
DBGSTATUS: Final = 0xD00
DBGCMD: Final = 0xD04
DBGINST0: Final = 0xD08
DBGINST1: Final = 0xD0C
CR0: Final = 0xE00
CR1: Final = 0xE04
CR2: Final = 0xE08
CR3: Final = 0xE0C
CR4: Final = 0xE10
CRD: Final = 0xE14
IDS = (0x30, 0x13, 0x24, 0x00, 0x0D, 0xF0, 0x05, 0xB1)  # at 0xFE0..: part 0x330, r1p1

# Thread states (CSR[3:0], DSR[3:0])
STOPPED: Final = 0x0
EXECUTING: Final = 0x1
WFE: Final = 0x4
WFP: Final = 0x7
KILLING: Final = 0x8
COMPLETING: Final = 0x9
FAULTING: Final = 0xF

# Fault types (FTRn, FTRD)
UNDEF_INSTR: Final = 1 << 0
OPERAND_INVALID: Final = 1 << 1
MFIFO_ERR: Final = 1 << 12
ST_DATA_UNAVAILABLE: Final = 1 << 13
INSTR_FETCH_ERR: Final = 1 << 16
DATA_WRITE_ERR: Final = 1 << 17
DATA_READ_ERR: Final = 1 << 18
DBG_INSTR: Final = 1 << 30
LOCKUP_ERR: Final = 1 << 31

# CCR fields
CC_SRCINC: Final = 1 << 0
CC_DSTINC: Final = 1 << 14

# What a handler tells the thread's loop
_NEXT: Final = 0  # go on with the next instruction
_STALL: Final = 1  # stay at this instruction (waiting, or out of budget)
_JUMP: Final = 2  # the handler set the PC, or the thread stopped

ICACHE_LINE: Final = 64  # bytes of microcode a thread fetches at once

# The loop of a run gives up after this many instructions with no byte moved (a lock-up).
LOCKUP_STEPS: Final = 100_000

log = logging.getLogger(__name__)

# (opcode, mask, size, name): the first entry that matches decodes the byte (DMASTP before
# DMALPEND, whose encodings overlap)
INSTRUCTIONS = (
    (0x54, 0xFD, 3, "addh"), (0x00, 0xFF, 1, "end"), (0x35, 0xFF, 2, "flushp"),
    (0xA0, 0xFD, 6, "go"), (0x04, 0xFC, 1, "ld"), (0x25, 0xFD, 2, "ldp"),
    (0x20, 0xFD, 2, "lp"), (0x29, 0xFD, 2, "stp"), (0x28, 0xE8, 2, "lpend"),
    (0x01, 0xFF, 1, "kill"), (0xBC, 0xFF, 6, "mov"), (0x18, 0xFF, 1, "nop"),
    (0x12, 0xFF, 1, "rmb"), (0x34, 0xFF, 2, "sev"), (0x08, 0xFC, 1, "st"),
    (0x0C, 0xFF, 1, "stz"), (0x36, 0xFF, 2, "wfe"), (0x30, 0xFC, 2, "wfp"),
    (0x13, 0xFF, 1, "wmb"),
)
DEBUG_INSTRUCTIONS = ("go", "kill", "sev")  # what DBGINST may hold


def _const(value: int) -> Callable[[], int]:
    """The reader of an identification register."""
    return lambda: value


def _decode_table() -> list[tuple[str, int] | None]:
    table: list[tuple[str, int] | None] = []
    for byte in range(256):
        found = next(((name, size) for op, mask, size, name in INSTRUCTIONS
                      if byte & mask == op), None)
        table.append(found)
    return table


DECODE = _decode_table()

# Instructions a batched loop body may hold
_BATCHABLE = frozenset(("wfp", "ld", "ldp", "st", "stp", "nop", "rmb", "wmb"))


class Pl330Thread:
    """A thread's registers and its run state (the manager is thread ``channels``)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.state = STOPPED
        self.pc = 0
        self.sar = 0
        self.dar = 0
        self.ccr = 0
        self.lc = [0, 0]
        self.fault = 0  # FTRn
        self.wakeup = 0  # the event or peripheral it waits for (CSR[8:4])
        self.burst_flag = False  # the request_flag: the last DMAWFP was B or P
        self.mfifo: list[np.ndarray] = []  # what DMALD loaded and DMAST has not stored
        self.mfifo_bytes = 0
        self.icache: dict[int, tuple[str, int, int, bytes]] = {}  # decoded, by address
        self.line = b""  # the instruction cache line last fetched, and its address
        self.line_base = 0
        self.periph = -1  # the request line it last waited on
        self.to_periph = True  # which way that peripheral's requests go
        self.pending = 0  # bytes the peripheral asks for in the current request
        self.budget = 0  # bytes it may still store in this run (memory to memory)
        self.moved_ld = 0  # bytes loaded from, and stored to, a fixed address (the
        self.moved_st = 0  # peripheral's side) in this run
        self.stored = 0  # bytes stored in this run, wherever
        self.m2m_run = True  # this run is paced by the budget, not by a request
        self.carry = 0  # memory-to-memory progress below one byte, in byte-ns units
        self.serial = 0  # bumped whenever the thread moves: keys bytes_to_event
        self.event_cache: tuple[int, Pl330Thread | None] = (-1, None)
        self.dry = False  # a scratch copy run to count bytes: no data, no side effects

    # CCR, decoded
    def src_bytes(self) -> int:
        return (((self.ccr >> 4) & 0xF) + 1) << ((self.ccr >> 1) & 7)

    def dst_bytes(self) -> int:
        return (((self.ccr >> 18) & 0xF) + 1) << ((self.ccr >> 15) & 7)

    def src_beat(self) -> int:
        return 1 << ((self.ccr >> 1) & 7)

    def dst_beat(self) -> int:
        return 1 << ((self.ccr >> 15) & 7)

    def scratch(self) -> Pl330Thread:
        """A copy to run dry: what the thread would do, with nothing done."""
        t = Pl330Thread(self.n)
        t.state, t.pc, t.sar, t.dar, t.ccr = self.state, self.pc, self.sar, self.dar, self.ccr
        t.lc = list(self.lc)
        t.burst_flag, t.mfifo_bytes, t.icache = self.burst_flag, self.mfifo_bytes, self.icache
        t.line, t.line_base = self.line, self.line_base
        t.periph, t.to_periph = self.periph, self.to_periph
        t.dry, t.m2m_run = True, False
        return t


class Pl330(DmaRequestInterface):
    """The controller. Registers at ``base``; one IRQ output, the OR of the event
    interrupts and the abort."""

    def __init__(
        self,
        bus: Bus,
        clock: VirtualClock,
        irqc: InterruptController,
        irq: int,
        base: int,
        channels: int = 8,
        request_lines: int = 16,
        events: int = 16,
        data_width: int = 64,
        mfifo_lines: int = 64,
        bytes_per_us: int = 400,
        name: str = "pl330",
    ) -> None:
        super().__init__()
        self.bus, self.clock, self.irqc, self.irq = bus, clock, irqc, irq
        self.base, self.name = base, name
        self.threads = [Pl330Thread(n) for n in range(channels)]
        self.manager = Pl330Thread(channels)
        self.request_lines, self.events = request_lines, events
        self.mfifo_capacity = mfifo_lines * data_width // 8  # bytes, shared by all threads
        self.bytes_per_us = bytes_per_us
        self.now_ns = clock.now_ns
        self.inten = 0
        self.int_status = 0  # INTMIS
        self.ev_status = 0  # INT_EVENT_RIS
        self.dbg = [0, 0]
        self.cfg = [
            1 | ((channels - 1) << 4) | ((request_lines - 1) << 12) | ((events - 1) << 17),
            0x3 | (7 << 4),  # CR1: 8-byte i-cache lines, 8 of them
            0, 0, 0,  # CR2 (boot address), CR3 (events secure), CR4 (peripherals secure)
            {32: 2, 64: 3, 128: 4}[data_width] | (3 << 4) | (7 << 8) | (3 << 12)
            | (7 << 16) | ((mfifo_lines - 1) << 20),
        ]
        self.routes: dict[int, Pl330Thread] = {}  # request line -> the thread waiting on it
        self.starved_lines: set[int] = set()
        self.corrupt: Callable[[np.ndarray], None] | None = None
        self.bytes_moved = 0
        self.unknown_accesses = 0
        self.instructions = 0  # instructions executed (batched loop iterations count once)
        self._resend: set[int] = set()  # lines flushed (DMAFLUSHP): ask their peripheral
        self._in_request = False
        self._exec: dict[str, Callable[[Pl330Thread, int, bytes], int]] = {
            "addh": self._addh, "end": self._end, "flushp": self._flushp, "go": self._go,
            "ld": self._ld, "ldp": self._ldp, "lp": self._lp, "stp": self._stp,
            "lpend": self._lpend, "kill": self._kill, "mov": self._mov, "nop": self._nop,
            "rmb": self._nop, "sev": self._sev, "st": self._st, "stz": self._stz,
            "wfe": self._wfe, "wfp": self._wfp, "wmb": self._nop}
        self._read: dict[int, Callable[[], int]] = {
            DSR: lambda: (self.manager.wakeup << 4) | self.manager.state,
            DPC: lambda: self.manager.pc, INTEN: lambda: self.inten,
            INT_EVENT_RIS: lambda: self.ev_status, INTMIS: lambda: self.int_status,
            INTCLR: lambda: 0, FSRD: lambda: int(self.manager.state == FAULTING),
            FSRC: self._fsrc, FTRD: lambda: self.manager.fault,
            DBGSTATUS: lambda: 0,
            **{CR0 + 4 * i: functools.partial(self.cfg.__getitem__, i) for i in range(6)},
            **{0xFE0 + 4 * i: _const(v) for i, v in enumerate(IDS)}}
        self._write: dict[int, Callable[[int], None]] = {
            INTEN: self._write_inten, INTCLR: self._write_intclr,
            DBGINST0: lambda v: self._set_dbg(0, v), DBGINST1: lambda v: self._set_dbg(1, v),
            DBGCMD: self._write_dbgcmd}
        bus.add_mmio(name, base, 0x1000, self)
        clock.add_agent(self)

    # -- registers --

    def mmio_read(self, off: int) -> int:
        n = len(self.threads)
        if FTR_BASE <= off < FTR_BASE + 4 * n and off % 4 == 0:
            return self.threads[(off - FTR_BASE) // 4].fault
        if CSR_BASE <= off < CSR_BASE + 8 * n:
            th = self.threads[(off - CSR_BASE) // 8]
            return th.pc if off % 8 == 4 else (th.wakeup << 4) | th.state
        if CH_BASE <= off < CH_BASE + CH_STRIDE * n:
            th = self.threads[(off - CH_BASE) // CH_STRIDE]
            reg = (off - CH_BASE) % CH_STRIDE
            if reg <= LC1:
                return (th.sar, th.dar, th.ccr, th.lc[0], th.lc[1])[reg // 4]
        read = self._read.get(off)
        if read is not None:
            return read() & 0xFFFFFFFF
        self._unknown("read", off)
        return 0

    def mmio_reader(self, off: int) -> Callable[[], int]:
        return lambda: self.mmio_read(off)

    def mmio_write(self, off: int, value: int) -> None:
        write = self._write.get(off)
        if write is None:
            self._unknown("write", off)
            return
        write(value)

    def _unknown(self, access: str, off: int) -> None:
        """An offset the block does not decode: logged, as QEMU's models log it."""
        self.unknown_accesses += 1
        log.warning("%s: %s of unknown register offset 0x%03x", self.name, access, off)

    def _fsrc(self) -> int:
        return sum(1 << t.n for t in self.threads if t.state == FAULTING)

    def _write_inten(self, value: int) -> None:
        self.inten = value & ((1 << self.events) - 1)
        self._update_irq()

    def _write_intclr(self, value: int) -> None:
        self.ev_status &= ~(value & self.inten)
        self.int_status &= ~(value & self.inten)
        self._update_irq()

    def _set_dbg(self, i: int, value: int) -> None:
        self.dbg[i] = value & 0xFFFFFFFF

    def _write_dbgcmd(self, value: int) -> None:
        """DBGCMD 0: the manager or a channel thread executes DBGINST0/1 now."""
        if value & 3:
            self._unknown("DBGCMD value", value)
            return
        d0, d1 = self.dbg
        insn = bytes(((d0 >> 16) & 0xFF, (d0 >> 24) & 0xFF)) + d1.to_bytes(4, "little")
        n = (d0 >> 8) & 7
        if d0 & 1 and n >= len(self.threads):
            self._fault(self.manager, OPERAND_INVALID | DBG_INSTR)
            return
        th = self.threads[n] if d0 & 1 else self.manager
        found = DECODE[insn[0]]
        if found is None or found[0] not in DEBUG_INSTRUCTIONS:
            self._fault(th, UNDEF_INSTR | DBG_INSTR)
            return
        self._exec[found[0]](th, insn[0], insn[1:found[1]])
        self._after_run()

    # -- interrupts --

    def _update_irq(self) -> None:
        abort = self.manager.state == FAULTING or any(t.state == FAULTING
                                                       for t in self.threads)
        self.irqc.set_level(self.irq, bool(self.int_status & self.inten) or abort)

    def _fault(self, th: Pl330Thread, bits: int) -> int:
        if th.dry:
            th.state = FAULTING
            return _JUMP
        log.warning("%s: thread %d faults at 0x%08x: FTR 0x%08x", self.name, th.n, th.pc, bits)
        self._unroute(th)
        th.state, th.fault = FAULTING, th.fault | bits
        self._update_irq()
        return _JUMP

    # -- routes: which thread waits on which request line --

    def _route(self, th: Pl330Thread, line: int) -> None:
        if self.routes.get(line) is not th:
            self.routes[line] = th
            self.generation += 1

    def _unroute(self, th: Pl330Thread) -> None:
        for line in [k for k, v in self.routes.items() if v is th]:
            del self.routes[line]
            self.generation += 1

    def _stop(self, th: Pl330Thread, state: int = STOPPED) -> None:
        self._unroute(th)
        th.state = state
        th.mfifo.clear()
        th.mfifo_bytes = 0
        th.serial += 1

    # -- the threads' instructions (args: the bytes after the opcode) --

    def _nop(self, th: Pl330Thread, op: int, a: bytes) -> int:
        return _NEXT

    def _end(self, th: Pl330Thread, op: int, a: bytes) -> int:
        if not th.dry:
            self._stop(th)
        th.state = STOPPED
        return _JUMP

    def _kill(self, th: Pl330Thread, op: int, a: bytes) -> int:
        if th.dry:
            th.state = STOPPED
            return _JUMP
        th.fault = 0
        self._stop(th)
        self._update_irq()
        return _JUMP

    def _go(self, th: Pl330Thread, op: int, a: bytes) -> int:
        """DMAGO (manager only): start channel thread ``a[0]`` at the address in a[1:5]."""
        if th is not self.manager:
            return self._fault(th, UNDEF_INSTR)
        n = a[0] & 7
        if n >= len(self.threads):
            return self._fault(th, OPERAND_INVALID)
        ch = self.threads[n]
        if ch.state != STOPPED:
            log.warning("%s: DMAGO to thread %d, which is not stopped", self.name, n)
            return _NEXT
        ch.pc = int.from_bytes(a[1:5], "little")
        ch.state, ch.fault, ch.periph = EXECUTING, 0, -1
        ch.icache, ch.line = {}, b""  # DMAGO starts with an empty instruction cache
        ch.serial += 1
        for hook in self.trace:
            hook("dma_request_start", f"dmac={self.name} thread={n} pc={ch.pc:#010x}")
        self._run(ch, 0, 0, True)
        return _NEXT

    def _mov(self, th: Pl330Thread, op: int, a: bytes) -> int:
        rd, imm = a[0], int.from_bytes(a[1:5], "little")
        if rd == 0:
            th.sar = imm
        elif rd == 2:
            th.dar = imm
        elif rd == 1:
            if th.ccr != imm and not th.dry:
                self.generation += 1
            th.ccr = imm
        else:
            return self._fault(th, OPERAND_INVALID)
        return _NEXT

    def _addh(self, th: Pl330Thread, op: int, a: bytes) -> int:
        imm = int.from_bytes(a[0:2], "little")
        if op & 2:
            th.dar = (th.dar + imm) & 0xFFFFFFFF
        else:
            th.sar = (th.sar + imm) & 0xFFFFFFFF
        return _NEXT

    def _lp(self, th: Pl330Thread, op: int, a: bytes) -> int:
        th.lc[(op >> 1) & 1] = a[0]
        return _NEXT

    def _skip(self, th: Pl330Thread, bs: int) -> bool:
        """A conditional load, store or loop end that the request flag turns into a NOP."""
        return (bs == 1 and th.burst_flag) or (bs == 3 and not th.burst_flag)

    def _lpend(self, th: Pl330Thread, op: int, a: bytes) -> int:
        bs, lc, counted = op & 3, (op >> 2) & 1, bool(op & 0x10)
        if bs == 2:
            return self._fault(th, OPERAND_INVALID)
        if self._skip(th, bs):
            return _NEXT
        if counted and th.lc[lc] == 0:
            return _NEXT  # the loop is done
        start = th.pc - a[0]
        k = self._batch(th, start, counted, lc)
        if counted:
            th.lc[lc] -= k
            if th.lc[lc] == 0:
                return _NEXT
            th.lc[lc] -= 1
        th.pc = start
        return _JUMP

    def _peri(self, th: Pl330Thread, a: bytes) -> int:
        """The peripheral operand of DMAWFP/LDP/STP/FLUSHP; -1 (a fault) if invalid."""
        if a[0] & 7 or (a[0] >> 3) >= self.request_lines:
            self._fault(th, OPERAND_INVALID)
            return -1
        return a[0] >> 3

    def _wfp(self, th: Pl330Thread, op: int, a: bytes) -> int:
        bs = op & 3
        if bs == 3:
            return self._fault(th, OPERAND_INVALID)
        p = self._peri(th, a)
        if p < 0:
            return _JUMP
        th.burst_flag = bs != 0  # S: single; B and P: a burst (the model's peripherals
        th.wakeup = p  # ask for whole bursts)
        if th.dry:
            return _NEXT
        th.periph = p
        self._route(th, p)
        need = self._request_bytes(th)
        if th.pending >= need > 0:
            th.pending -= need
            th.state = EXECUTING
            return _NEXT
        th.state = WFP
        if not self._in_request:  # a request already up is seen now (level-sensitive)
            self._resend.add(p)
        return _STALL

    def _request_bytes(self, th: Pl330Thread) -> int:
        """Bytes one request of the kind the request flag says stands for, on the
        peripheral's side."""
        if th.to_periph:
            return th.dst_bytes() if th.burst_flag else th.dst_beat()
        return th.src_bytes() if th.burst_flag else th.src_beat()

    def _flushp(self, th: Pl330Thread, op: int, a: bytes) -> int:
        p = self._peri(th, a)
        if p < 0:
            return _JUMP
        if not th.dry:
            if th.periph == p:
                th.pending = 0
            self._resend.add(p)
        return _NEXT

    def _ld(self, th: Pl330Thread, op: int, a: bytes) -> int:
        bs = op & 3
        if bs == 2:
            return self._fault(th, OPERAND_INVALID)
        if self._skip(th, bs):
            return _NEXT
        n = th.src_bytes() if bs != 1 else th.src_beat()
        if th.mfifo_bytes + n > self.mfifo_capacity:
            return self._fault(th, MFIFO_ERR)
        if not th.dry:
            try:
                if th.ccr & CC_SRCINC:
                    data = self.bus.ram_view(th.sar, n, False).copy()
                else:
                    data = self.bus.fifo_read(th.sar, n, th.src_beat())
            except BusError:
                return self._fault(th, DATA_READ_ERR)
            th.mfifo.append(data)
        th.mfifo_bytes += n
        if th.ccr & CC_SRCINC:
            th.sar += n
        if not th.ccr & CC_SRCINC:
            th.moved_ld += n
        return _NEXT

    def _ldp(self, th: Pl330Thread, op: int, a: bytes) -> int:
        return _JUMP if self._peri(th, a) < 0 else self._ld(th, 0x05 | (op & 2), a)

    def _st(self, th: Pl330Thread, op: int, a: bytes, zero: bool = False) -> int:
        bs = op & 3
        if bs == 2:
            return self._fault(th, OPERAND_INVALID)
        if self._skip(th, bs):
            return _NEXT
        n = th.dst_bytes() if bs != 1 else th.dst_beat()
        if th.m2m_run and th.budget < n:
            return _STALL  # memory to memory: out of time in this step
        if not zero and th.mfifo_bytes < n:
            return self._fault(th, ST_DATA_UNAVAILABLE)
        if not th.dry:
            data = np.zeros(n, np.uint8) if zero else self._pop(th, n)
            if self.corrupt is not None:
                self.corrupt(data)
            try:
                if th.ccr & CC_DSTINC:
                    self.bus.ram_view(th.dar, n, True)[:] = data
                else:
                    self.bus.fifo_write(th.dar, data, th.dst_beat())
            except BusError:
                return self._fault(th, DATA_WRITE_ERR)
            th.budget -= n
            self.bytes_moved += n
        elif not zero:
            th.mfifo_bytes -= n
        th.stored += n
        if th.ccr & CC_DSTINC:
            th.dar += n
        else:
            th.moved_st += n
        return _NEXT

    def _stp(self, th: Pl330Thread, op: int, a: bytes) -> int:
        return _JUMP if self._peri(th, a) < 0 else self._st(th, 0x09 | (op & 2), a)

    def _stz(self, th: Pl330Thread, op: int, a: bytes) -> int:
        return self._st(th, 0x08, a, zero=True)

    def _pop(self, th: Pl330Thread, n: int) -> np.ndarray:
        """The first ``n`` bytes of the thread's MFIFO entries."""
        parts, got = [], 0
        while got < n:
            head = th.mfifo[0]
            take = min(n - got, len(head))
            parts.append(head[:take])
            if take == len(head):
                th.mfifo.pop(0)
            else:
                th.mfifo[0] = head[take:]
            got += take
        th.mfifo_bytes -= n
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _sev(self, th: Pl330Thread, op: int, a: bytes) -> int:
        ev = a[0] >> 3
        if a[0] & 7 or ev >= self.events:
            return self._fault(th, OPERAND_INVALID)
        if th.dry:
            th.state = COMPLETING  # the run dry stops at the event
            return _JUMP
        bit = 1 << ev
        self.ev_status |= bit
        if self.inten & bit:
            self.int_status |= bit
            for probe in self.tc_probes:
                probe(th.periph >= 0 and th.to_periph, self.clock.now_ns)
            for hook in self.trace:
                hook("dma_event", f"dmac={self.name} thread={th.n} ev={ev}")
            self._update_irq()
        else:
            for t in self.threads:
                if t.state == WFE and t.wakeup == ev:
                    t.state = EXECUTING
                    self.ev_status &= ~bit
        return _NEXT

    def _wfe(self, th: Pl330Thread, op: int, a: bytes) -> int:
        ev = a[0] >> 3
        if a[0] & 5 or ev >= self.events:
            return self._fault(th, OPERAND_INVALID)
        th.wakeup = ev
        bit = 1 << ev
        if self.ev_status & bit and not self.inten & bit:
            self.ev_status &= ~bit
            return _NEXT
        th.state = WFE
        return _STALL

    # -- running a thread --

    def _code(self, th: Pl330Thread, n: int) -> bytes:
        """``n`` bytes of microcode at the thread's PC, through its cache line (a window
        of ICACHE_LINE bytes, fetched on a miss); BusError if the bus has none."""
        off = th.pc - th.line_base
        if 0 <= off and off + n <= len(th.line):
            return th.line[off:off + n]
        try:
            th.line = bytes(self.bus.ram_view(th.pc, ICACHE_LINE, False))
        except BusError:  # near the end of RAM: no more than the instruction
            th.line = bytes(self.bus.ram_view(th.pc, n, False))
        th.line_base = th.pc
        return th.line[:n]

    def _fetch(self, th: Pl330Thread) -> tuple[str, int, int, bytes] | None:
        insn = th.icache.get(th.pc)
        if insn is not None:
            return insn
        try:
            found = DECODE[self._code(th, 1)[0]]
            if found is None:
                self._fault(th, UNDEF_INSTR)
                return None
            name, size = found
            raw = self._code(th, size)
        except BusError:
            self._fault(th, INSTR_FETCH_ERR)
            return None
        insn = (name, size, raw[0], raw[1:])
        th.icache[th.pc] = insn
        return insn

    def _run(self, th: Pl330Thread, pending: int, budget: int, m2m: bool) -> None:
        """Run ``th`` until it waits, stops or faults; with ``m2m``, also until it runs
        out of ``budget`` bytes to store; else ``pending`` bytes of peripheral requests."""
        if th.state in (WFP, WFE):
            th.state = EXECUTING
        th.pending, th.budget, th.m2m_run = pending, budget, m2m
        th.moved_ld = th.moved_st = th.stored = 0
        steps = 0
        while th.state == EXECUTING:
            insn = self._fetch(th)
            if insn is None:
                break
            name, size, op, a = insn
            done = self._exec[name](th, op, a)
            if done == _NEXT:
                th.pc += size
            elif done == _STALL:
                break
            steps += 1
            if steps > LOCKUP_STEPS:  # a run dry gives up: no event it could name
                if not th.dry:
                    self._fault(th, LOCKUP_ERR)
                break
        self.instructions += steps
        if not th.dry:
            th.serial += 1

    def _after_run(self) -> None:
        """Lines a DMAFLUSHP flushed: their peripherals say again what they want."""
        if self._in_request:
            return
        while self._resend:
            line = self._resend.pop()
            peripheral = self.peripherals.get(line)
            if peripheral is not None and line in self.routes:
                peripheral.dma_request_ready(line)

    # -- loops run as one copy --

    def _body(self, th: Pl330Thread, start: int,
              end: int) -> list[tuple[str, int, int, bytes]] | None:
        """The decoded instructions of a loop body, if all may be batched."""
        body, pc = [], start
        while pc < end:
            insn = th.icache.get(pc)
            if insn is None or insn[0] not in _BATCHABLE:
                return None
            body.append(insn)
            pc += insn[1]
        return body

    def _batch(self, th: Pl330Thread, start: int, counted: bool, lc: int) -> int:
        """Run as many further iterations of the loop at [start, pc) as the loop count,
        the peripheral's request and the budget allow, as one copy; how many ran."""
        body = self._body(th, start, th.pc)
        if body is None or th.mfifo_bytes:
            return 0
        flag, ld, st, waits = th.burst_flag, 0, 0, 0
        for name, _, op, _ in body:
            bs = op & 3
            if name == "wfp":
                flag, waits = bs != 0, waits + 1
            elif name in ("ld", "ldp", "st", "stp"):
                if bs == 2 or (bs == 1 and flag) or (bs == 3 and not flag):
                    continue
                single = name in ("ld", "ldp") and bs == 1 or name in ("st", "stp") and bs == 1
                if name in ("ld", "ldp"):
                    ld += th.src_beat() if single else th.src_bytes()
                else:
                    st += th.dst_beat() if single else th.dst_bytes()
                    if ld < st:
                        return 0  # a store before its data is loaded: run it one by one
        if ld != st or ld == 0 or flag != th.burst_flag:
            return 0
        k = th.lc[lc] if counted else 1 << 30
        if waits and not th.dry:
            k = min(k, th.pending // (waits * self._request_bytes(th)))
        elif th.m2m_run:
            k = min(k, th.budget // st)
        if k <= 0 or k >= 1 << 30:
            return 0
        n = k * st
        src_inc, dst_inc = bool(th.ccr & CC_SRCINC), bool(th.ccr & CC_DSTINC)
        if not th.dry:
            try:
                if src_inc:
                    data = self.bus.ram_view(th.sar, n, False)
                else:
                    data = self.bus.fifo_read(th.sar, n, th.src_beat())
            except BusError:
                self._fault(th, DATA_READ_ERR)
                return 0
            if self.corrupt is not None:
                data = data.copy()
                self.corrupt(data)
            try:
                if dst_inc:
                    self.bus.ram_view(th.dar, n, True)[:] = data
                else:
                    self.bus.fifo_write(th.dar, data, th.dst_beat())
            except BusError:
                self._fault(th, DATA_WRITE_ERR)
                return 0
            if waits:
                th.pending -= k * waits * self._request_bytes(th)
            th.budget -= n
            self.bytes_moved += n
        th.sar += n if src_inc else 0
        th.dar += n if dst_inc else 0
        th.moved_ld += 0 if src_inc else n
        th.moved_st += 0 if dst_inc else n
        th.stored += n
        return k

    # -- the request interface (the I2S FIFOs) --

    def dma_request(self, line: int, nbytes: int, to_periph: bool) -> int:
        th = self.routes.get(line)
        if th is None or th.state != WFP or line in self.starved_lines:
            return 0
        th.to_periph = to_periph
        with self.clock.hw_lock:  # an interrupt it raises comes after its DMAEND
            self._in_request = True
            try:
                self._run(th, nbytes, 0, False)
            finally:
                self._in_request = False
            th.pending = 0
            return th.moved_st if to_periph else th.moved_ld

    def burst_bytes(self, line: int, to_periph: bool) -> int | None:
        th = self.routes.get(line)
        if th is None:
            return None
        th.to_periph = to_periph
        return self._request_bytes(th) if th.burst_flag else None

    def bytes_to_event(self, line: int, to_periph: bool) -> int | None:
        th = self.routes.get(line)
        if th is None or line in self.starved_lines:
            return None
        th.to_periph = to_periph
        return self._bytes_to_event(th)

    def _dry(self, th: Pl330Thread) -> Pl330Thread | None:
        """The thread run dry up to its next DMASEV, DMAEND or fault (its counters say
        what it moved on the way); None if it would not get there."""
        key, t = th.event_cache
        if key != th.serial:
            t = th.scratch()
            t.state = EXECUTING
            self._run(t, 0, 0, False)
            if t.state not in (COMPLETING, STOPPED, FAULTING):  # a fault interrupts too
                t = None
            th.event_cache = (th.serial, t)
        return t

    def _bytes_to_event(self, th: Pl330Thread) -> int | None:
        """Bytes the thread moves on the peripheral's side before it may interrupt."""
        t = self._dry(th)
        if t is None:
            return None
        return t.moved_st if th.to_periph else t.moved_ld

    def starve(self, line: int, on: bool) -> None:
        """Fault injection: stop (or resume) serving request ``line``."""
        with self.clock.hw_lock:
            if on:
                self.starved_lines.add(line)
                self.generation += 1
                return
            self.starved_lines.discard(line)
            self.generation += 1
            peripheral = self.peripherals.get(line)
            if peripheral is not None:
                peripheral.dma_request_ready(line)

    # -- the clock agent (memory-to-memory threads) --

    def _m2m(self) -> list[Pl330Thread]:
        return [t for t in self.threads if t.state == EXECUTING]

    def next_event_ns(self) -> int | None:
        best = None
        for th in self._m2m():
            dry = self._dry(th)
            if dry is None:
                continue
            left = dry.stored
            t = self.now_ns + -(-max(left * 1000 - th.carry, 0) // self.bytes_per_us)
            best = t if best is None else min(best, t)
        return best

    def advance_to(self, t_ns: int) -> None:
        elapsed = t_ns - self.now_ns
        self.now_ns = t_ns
        for th in self._m2m():
            th.carry += max(elapsed, 0) * self.bytes_per_us
            budget = th.carry // 1000
            self._run(th, 0, budget, True)
            used = budget - th.budget
            th.carry = th.carry - used * 1000 if th.state == EXECUTING else 0
        self._after_run()
