"""ARM PrimeCell PL080 DMA controller, the hardware model (QEMU's hw/dma/pl080.c in spirit).

Registers are decoded through tables; an unknown offset is logged, counted and reads 0.
Channel CONFIG is decoded when written. What is simplified: docs/design-notes.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from soc.bus import Bus, BusError
from soc.clock import VirtualClock
from soc.dma_request import DmaRequestInterface
from soc.irq import InterruptController

# Global registers
INT_STATUS: Final = 0x000
INT_TC_STATUS: Final = 0x004
INT_TC_CLEAR: Final = 0x008
INT_ERR_STATUS: Final = 0x00C
INT_ERR_CLEAR: Final = 0x010
RAW_INT_TC_STATUS: Final = 0x014
RAW_INT_ERR_STATUS: Final = 0x018
ENBLD_CHNS: Final = 0x01C
CONFIG: Final = 0x030
CONFIG_E: Final = 1 << 0
SYNC: Final = 0x034
PERIPH_ID = (0x80, 0x10, 0x04, 0x0A)  # at 0xFE0.. : part 0x080, ARM, revision
PCELL_ID = (0x0D, 0xF0, 0x05, 0xB1)  # at 0xFF0..

# Channel registers, at 0x100 + n * 0x20
CH_BASE: Final = 0x100
CH_STRIDE: Final = 0x20
CH_SRC: Final = 0x00
CH_DST: Final = 0x04
CH_LLI: Final = 0x08
CH_CONTROL: Final = 0x0C
CH_CONFIG: Final = 0x10

# CONTROL bits
CTL_TSIZE_MASK: Final = 0xFFF
CTL_SB_SHIFT: Final = 12
CTL_DB_SHIFT: Final = 15
CTL_SW_SHIFT: Final = 18
CTL_DW_SHIFT: Final = 21
CTL_SHAPE_MASK: Final = 0xFFF << CTL_SB_SHIFT  # SBSize, DBSize, SWidth, DWidth: 3 bits each
CTL_SI: Final = 1 << 26
CTL_DI: Final = 1 << 27
CTL_PROT_SHIFT: Final = 28
CTL_TC_IRQ: Final = 1 << 31
BURST_SIZES = (1, 4, 8, 16, 32, 64, 128, 256)
WIDTHS = (1, 2, 4)

# CONFIG (channel) bits
CFG_E: Final = 1 << 0
CFG_SRC_PERIPH_SHIFT: Final = 1
CFG_DST_PERIPH_SHIFT: Final = 6
CFG_FLOW_SHIFT: Final = 11
CFG_IE: Final = 1 << 14
CFG_ITC: Final = 1 << 15
CFG_LOCK: Final = 1 << 16
CFG_ACTIVE: Final = 1 << 17
CFG_HALT: Final = 1 << 18
FLOW_M2M: Final = 0
FLOW_M2P: Final = 1
FLOW_P2M: Final = 2
FLOW_P2P: Final = 3

log = logging.getLogger(__name__)


def width_of(code: int) -> int:
    """Bytes per beat for a SWidth/DWidth code; BusError-free: reserved codes raise."""
    try:
        return WIDTHS[code]  # codes are 3-bit fields, never negative
    except IndexError:
        raise ValueError(f"reserved width code {code}") from None


def _const(value: int) -> Callable[[], int]:
    """The reader of an identification register."""
    return lambda: value


@dataclass
class Pl080Channel:
    """One physical channel's registers."""

    src: int = 0
    dst: int = 0
    lli: int = 0
    control: int = 0
    config: int = 0
    carry: int = 0  # memory-to-memory progress below one beat, in byte-ns units
    # CONTROL's shape (burst sizes and widths), latched by set_control when it changes:
    # bytes per source and destination beat (0: a reserved code) and per burst
    shape: int = -1
    sw: int = 0
    dw: int = 0
    src_burst: int = 0
    dst_burst: int = 0

    def reg_src(self) -> int:
        return self.src

    def reg_dst(self) -> int:
        return self.dst

    def reg_lli(self) -> int:
        return self.lli

    def reg_control(self) -> int:
        return self.control

    def set_control(self, value: int) -> bool:
        """Write CONTROL; True when its shape changed and the widths were latched anew."""
        self.control = value
        shape = value & CTL_SHAPE_MASK
        if shape == self.shape:
            return False
        self.shape = shape
        sw, dw = (value >> CTL_SW_SHIFT) & 7, (value >> CTL_DW_SHIFT) & 7
        self.sw = WIDTHS[sw] if sw < len(WIDTHS) else 0
        self.dw = WIDTHS[dw] if dw < len(WIDTHS) else 0
        self.src_burst = BURST_SIZES[(value >> CTL_SB_SHIFT) & 7] * self.sw
        self.dst_burst = BURST_SIZES[(value >> CTL_DB_SHIFT) & 7] * self.dw
        return True

    @property
    def enabled(self) -> bool:
        return bool(self.config & CFG_E)

    @property
    def halted(self) -> bool:
        return bool(self.config & CFG_HALT)

    @property
    def flow(self) -> int:
        return (self.config >> CFG_FLOW_SHIFT) & 7

    @property
    def swidth(self) -> int:
        return self.sw or width_of((self.control >> CTL_SW_SHIFT) & 7)

    @property
    def dwidth(self) -> int:
        return self.dw or width_of((self.control >> CTL_DW_SHIFT) & 7)

    @property
    def bytes_left(self) -> int:
        """Bytes left in the current LLI (TransferSize counts source beats)."""
        return (self.control & CTL_TSIZE_MASK) * self.swidth


class Pl080(DmaRequestInterface):
    """The controller. Registers are reached by the bus at ``base``; one IRQ output."""

    def __init__(
        self,
        bus: Bus,
        clock: VirtualClock,
        irqc: InterruptController,
        irq: int,
        base: int,
        channels: int = 8,
        request_lines: int = 16,
        bytes_per_us: int = 400,
        name: str = "pl080",
    ) -> None:
        super().__init__()
        self.bus, self.clock, self.irqc, self.irq = bus, clock, irqc, irq
        self.name = name
        self.base = base
        self.channels = [Pl080Channel() for _ in range(channels)]
        self._ch_end = CH_BASE + CH_STRIDE * channels  # end of the channel register banks
        self.request_lines = request_lines
        self.bytes_per_us = bytes_per_us
        self.config = 0
        self.raw_tc = 0
        self.raw_err = 0
        self.now_ns = clock.now_ns
        # Fault injection: a function that may alter data on its way to the destination;
        # request lines left unserved (the channel starved of the bus, so the
        # peripheral's FIFO runs dry or fills up while its request stays asserted).
        self.corrupt: Callable[[np.ndarray], None] | None = None
        self.starved_lines: set[int] = set()
        self.bytes_moved = 0
        self.sync = 0
        # Fault injection: channels whose CONFIG reads Active whatever they do (a
        # peripheral that keeps its request up), so a HALT never drains
        self.stuck_active: list[Pl080Channel] = []
        self.unknown_accesses = 0  # reads and writes of offsets the block does not have
        # Decoded from the CONFIG registers whenever one changes (and on starvation):
        # the channel serving each (request line, towards the peripheral), the
        # memory-to-memory channels running, and the ITC / IE channel masks.
        # the channel serving each request line, per direction (to the peripheral, from it)
        self._routes_tx: dict[int, tuple[int, Pl080Channel]] = {}
        self._routes_rx: dict[int, tuple[int, Pl080Channel]] = {}
        self._m2m: list[tuple[int, Pl080Channel]] = []
        self._itc_mask = 0
        self._ie_mask = 0
        self._ch_read: dict[int, Callable[[Pl080Channel], int]] = {
            CH_SRC: Pl080Channel.reg_src, CH_DST: Pl080Channel.reg_dst,
            CH_LLI: Pl080Channel.reg_lli, CH_CONTROL: Pl080Channel.reg_control,
            CH_CONFIG: self._read_ch_config}
        self._ch_write: dict[int, Callable[[int, Pl080Channel, int], None]] = {
            CH_SRC: lambda n, ch, v: setattr(ch, "src", v),
            CH_DST: lambda n, ch, v: setattr(ch, "dst", v),
            CH_LLI: lambda n, ch, v: setattr(ch, "lli", v),
            CH_CONTROL: self._write_control,
            CH_CONFIG: self._write_config}
        self._read: dict[int, Callable[[], int]] = {
            INT_STATUS: lambda: self._tc_status() | self._err_status(),
            INT_TC_STATUS: self._tc_status, INT_ERR_STATUS: self._err_status,
            RAW_INT_TC_STATUS: lambda: self.raw_tc, RAW_INT_ERR_STATUS: lambda: self.raw_err,
            ENBLD_CHNS: lambda: sum(1 << i for i, c in enumerate(self.channels) if c.enabled),
            CONFIG: lambda: self.config, SYNC: lambda: self.sync,
            **{0xFE0 + 4 * i: _const(v) for i, v in enumerate(PERIPH_ID)},
            **{0xFF0 + 4 * i: _const(v) for i, v in enumerate(PCELL_ID)}}
        self._write: dict[int, Callable[[int], None]] = {
            INT_TC_CLEAR: self._clear_tc, INT_ERR_CLEAR: self._clear_err,
            CONFIG: self._write_global_config, SYNC: lambda v: setattr(self, "sync", v & 0xFFFF)}
        bus.add_mmio(name, base, 0x1000, self)
        clock.add_agent(self)

    # -- the register interface --

    def mmio_read(self, off: int) -> int:
        if CH_BASE <= off < self._ch_end:
            read = self._ch_read.get((off - CH_BASE) % CH_STRIDE)
            if read is not None:
                return read(self.channels[(off - CH_BASE) // CH_STRIDE])
        else:
            read_global = self._read.get(off)
            if read_global is not None:
                return read_global()
        self._unknown("read", off)
        return 0

    def mmio_reader(self, off: int) -> Callable[[], int]:
        """The reader of the register at ``off``, decoded once (the bus keeps it)."""
        if CH_BASE <= off < self._ch_end:
            read = self._ch_read.get((off - CH_BASE) % CH_STRIDE)
            if read is not None:  # channel registers hold 32-bit values by construction
                return functools.partial(read, self.channels[(off - CH_BASE) // CH_STRIDE])
        else:
            read_global = self._read.get(off)
            if read_global is not None:
                return lambda: read_global() & 0xFFFFFFFF
        return lambda: self.mmio_read(off)  # an unknown offset: logged at every read

    def mmio_write(self, off: int, value: int) -> None:
        if CH_BASE <= off < self._ch_end:
            write = self._ch_write.get((off - CH_BASE) % CH_STRIDE)
            if write is not None:
                n = (off - CH_BASE) // CH_STRIDE
                write(n, self.channels[n], value)
                return
        else:
            write_global = self._write.get(off)
            if write_global is not None:
                write_global(value)
                return
        self._unknown("write", off)

    def _unknown(self, access: str, off: int) -> None:
        """An offset the block does not decode: logged, as QEMU's models log it."""
        self.unknown_accesses += 1
        log.warning("%s: %s of unknown register offset 0x%03x", self.name, access, off)

    def _read_ch_config(self, ch: Pl080Channel) -> int:
        active = (ch.enabled and not ch.halted and ch.flow == FLOW_M2M) or ch in self.stuck_active
        return (ch.config & ~CFG_ACTIVE) | (CFG_ACTIVE if active else 0)

    def _clear_tc(self, value: int) -> None:
        self.raw_tc &= ~value
        self._update_irq()

    def _clear_err(self, value: int) -> None:
        self.raw_err &= ~value
        self._update_irq()

    def _write_global_config(self, value: int) -> None:
        self.config = value & 0x7
        self._update_irq()

    def _write_control(self, n: int, ch: Pl080Channel, value: int) -> None:
        if ch.set_control(value):
            self.generation += 1

    def _write_config(self, n: int, ch: Pl080Channel, value: int) -> None:
        was_running = ch.enabled and not ch.halted
        ch.config = value & ~CFG_ACTIVE
        starting = ch.enabled and not was_running
        if starting and not self.config & CONFIG_E:
            ch.config &= ~CFG_E  # a disabled controller starts nothing
        self._config_changed()
        if starting and ch.enabled:
            ch.carry = 0
            if not ch.halted and ch.flow in (FLOW_M2P, FLOW_P2M):
                # request lines are level-sensitive: an asserted one is seen at once
                shift = CFG_DST_PERIPH_SHIFT if ch.flow == FLOW_M2P else CFG_SRC_PERIPH_SHIFT
                line = (ch.config >> shift) & 0xF
                peripheral = self.peripherals.get(line)
                if peripheral is not None:
                    peripheral.dma_request_ready(line)

    # -- interrupts --

    def _mask(self, bit: int) -> int:
        """The channels whose CONFIG has ``bit`` set (ITC or IE), as a bit mask."""
        return sum(1 << i for i, c in enumerate(self.channels) if c.config & bit)

    def _tc_status(self) -> int:
        return self.raw_tc & self._itc_mask

    def _err_status(self) -> int:
        return self.raw_err & self._ie_mask

    def _update_irq(self) -> None:
        self.irqc.set_level(self.irq, bool(self._tc_status() | self._err_status()))

    # -- the transfer engine --

    def _config_changed(self) -> None:
        """Decode the channels' CONFIG registers: routes, running M2M channels, masks."""
        self.generation += 1
        routes_tx: dict[int, tuple[int, Pl080Channel]] = {}
        routes_rx: dict[int, tuple[int, Pl080Channel]] = {}
        m2m = []
        for n, ch in enumerate(self.channels):
            if not ch.enabled or ch.halted:
                continue
            if ch.flow == FLOW_M2M:
                m2m.append((n, ch))
            elif ch.flow == FLOW_M2P:
                line = (ch.config >> CFG_DST_PERIPH_SHIFT) & 0xF
                if line not in self.starved_lines:
                    routes_tx.setdefault(line, (n, ch))  # the lowest channel wins
            elif ch.flow == FLOW_P2M:
                line = (ch.config >> CFG_SRC_PERIPH_SHIFT) & 0xF
                if line not in self.starved_lines:
                    routes_rx.setdefault(line, (n, ch))
        self._routes_tx, self._routes_rx, self._m2m = routes_tx, routes_rx, m2m
        self._itc_mask, self._ie_mask = self._mask(CFG_ITC), self._mask(CFG_IE)

    def _fault(self, n: int, ch: Pl080Channel) -> None:
        ch.config &= ~CFG_E
        self._config_changed()
        self.raw_err |= 1 << n
        self._update_irq()

    def _end_of_lli(self, n: int, ch: Pl080Channel) -> None:
        if ch.control & CTL_TC_IRQ:
            self.raw_tc |= 1 << n
            for probe in self.tc_probes:
                probe(ch.flow == FLOW_M2P, self.clock.now_ns)
            for hook in self.trace:
                hook("dma_terminal_count", f"dmac={self.name} ch={n}")
        if ch.lli & ~3:
            for hook in self.trace:
                hook("dma_lli_switch", f"dmac={self.name} ch={n} lli={ch.lli & ~3:#010x}")
            ch.src, ch.dst, ch.lli, control = self.bus.ram_words(ch.lli & ~3)
            if ch.set_control(control):
                self.generation += 1
        else:
            ch.config &= ~CFG_E  # the chain is done: the channel disables itself
            self._config_changed()
        self._update_irq()

    def _move(self, n: int, ch: Pl080Channel, budget: int) -> int:
        """Move up to ``budget`` bytes on channel ``n``, crossing LLIs; bytes moved."""
        moved = 0
        try:
            while budget > 0 and ch.config & CFG_E and not ch.config & CFG_HALT:
                control = ch.control
                sw = ch.swidth
                left = (control & CTL_TSIZE_MASK) * sw
                if left == 0:
                    self._end_of_lli(n, ch)
                    continue
                step = min(budget, left)
                step -= step % sw
                if step == 0:
                    break
                if control & CTL_SI:
                    data = self.bus.ram_view(ch.src, step, False)
                else:
                    data = self.bus.fifo_read(ch.src, step, sw)
                if self.corrupt is not None:
                    data = data.copy()
                    self.corrupt(data)
                if control & CTL_DI:
                    self.bus.ram_view(ch.dst, step, True)[:] = data
                else:
                    self.bus.fifo_write(ch.dst, data, ch.dwidth)
                if control & CTL_SI:
                    ch.src += step
                if control & CTL_DI:
                    ch.dst += step
                beats = (control & CTL_TSIZE_MASK) - step // sw
                ch.control = (control & ~CTL_TSIZE_MASK) | beats
                moved += step
                budget -= step
                if beats == 0:
                    self._end_of_lli(n, ch)
        except BusError:
            self._fault(n, ch)
        self.bytes_moved += moved
        return moved

    # -- peripheral request lines --

    def _channel_for(self, line: int, to_periph: bool) -> tuple[int, Pl080Channel] | None:
        return (self._routes_tx if to_periph else self._routes_rx).get(line)

    def starve(self, line: int, on: bool) -> None:
        """Fault injection: stop (or resume) serving request ``line``; the channel keeps
        its registers and carries on where it was when the starvation ends."""
        with self.clock.hw_lock:
            if on:
                self.starved_lines.add(line)
                self._config_changed()
                return
            self.starved_lines.discard(line)
            self._config_changed()
            peripheral = self.peripherals.get(line)
            if peripheral is not None:
                peripheral.dma_request_ready(line)

    def dma_request(self, line: int, nbytes: int, to_periph: bool) -> int:
        found = self._channel_for(line, to_periph)
        if found is None:
            return 0
        return self._move(found[0], found[1], nbytes)

    def burst_bytes(self, line: int, to_periph: bool) -> int | None:
        found = self._channel_for(line, to_periph)
        if found is None:
            return None
        ch = found[1]
        if to_periph:
            return ch.dst_burst or BURST_SIZES[(ch.control >> CTL_DB_SHIFT) & 7] * ch.dwidth
        return ch.src_burst or BURST_SIZES[(ch.control >> CTL_SB_SHIFT) & 7] * ch.swidth

    def bytes_to_event(self, line: int, to_periph: bool) -> int | None:
        """Bytes left in the current LLI of the channel serving ``line``."""
        found = self._channel_for(line, to_periph)
        return None if found is None else found[1].bytes_left

    # -- the clock agent (memory-to-memory channels) --

    def next_event_ns(self) -> int | None:
        best = None
        for _, ch in self._m2m:
            need = max(ch.bytes_left * 1000 - ch.carry, 0)
            t = self.now_ns + -(-need // self.bytes_per_us)
            best = t if best is None else min(best, t)
        return best

    def advance_to(self, t_ns: int) -> None:
        elapsed = t_ns - self.now_ns
        self.now_ns = t_ns
        if elapsed <= 0:
            for n, ch in list(self._m2m):  # a channel just enabled with nothing to move
                if ch.bytes_left == 0:
                    self._end_of_lli(n, ch)
            return
        for n, ch in list(self._m2m):
            ch.carry += elapsed * self.bytes_per_us
            budget = ch.carry // 1000
            budget -= budget % ch.swidth
            moved = self._move(n, ch, budget)
            ch.carry = 0 if not ch.enabled else ch.carry - moved * 1000
