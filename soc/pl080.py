"""A PL080-style DMA controller: the hardware model (registers, LLIs, request lines).

Counterpart: ARM PrimeCell PL080 (driven in Linux by drivers/dma/amba-pl08x.c), and in
spirit QEMU's hw/dma/pl080.c: this file knows registers and bus cycles, never a driver.

What it keeps of the real block:
- global status/clear registers, enable, per-channel SRC, DST, LLI, CONTROL, CONFIG;
- LLIs of four words ``{src, dst, next, control}`` fetched from memory by the
  controller itself when a transfer of ``TransferSize`` source beats ends;
- widths of 1, 2 or 4 bytes, bursts of 1..256 from the PL080 table, SI/DI increment,
  a 12-bit transfer size counting down as beats move, SRC/DST advancing with them;
- a terminal-count interrupt at the end of an LLI whose control has the I bit, an
  error interrupt on a bus error (the channel then disables), masks ITC/IE;
- HALT (ignore further requests) and ACTIVE, peripheral request lines.

What it simplifies, and why:
- Memory-to-memory channels move at ``bytes_per_us`` each, in parallel, without bus
  contention between channels: enough to give transfers a duration and residue a
  meaning mid-transfer.
- Peripheral transfers happen at the instant the peripheral requests them (the bus is
  orders of magnitude faster than an audio FIFO drains), so the channel FIFO never holds
  data and ACTIVE reads 0 as soon as HALT is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from soc.bus import Bus, BusError
from soc.clock import VirtualClock
from soc.irq import InterruptController

# Global registers
INT_STATUS = 0x000
INT_TC_STATUS = 0x004
INT_TC_CLEAR = 0x008
INT_ERR_STATUS = 0x00C
INT_ERR_CLEAR = 0x010
RAW_INT_TC_STATUS = 0x014
RAW_INT_ERR_STATUS = 0x018
ENBLD_CHNS = 0x01C
CONFIG = 0x030
CONFIG_E = 1 << 0
SYNC = 0x034
PERIPH_ID = (0x80, 0x10, 0x04, 0x0A)  # at 0xFE0.. : part 0x080, ARM, revision
PCELL_ID = (0x0D, 0xF0, 0x05, 0xB1)  # at 0xFF0..

# Channel registers, at 0x100 + n * 0x20
CH_BASE = 0x100
CH_STRIDE = 0x20
CH_SRC = 0x00
CH_DST = 0x04
CH_LLI = 0x08
CH_CONTROL = 0x0C
CH_CONFIG = 0x10

# CONTROL bits
CTL_TSIZE_MASK = 0xFFF
CTL_SB_SHIFT = 12
CTL_DB_SHIFT = 15
CTL_SW_SHIFT = 18
CTL_DW_SHIFT = 21
CTL_SI = 1 << 26
CTL_DI = 1 << 27
CTL_PROT_SHIFT = 28
CTL_TC_IRQ = 1 << 31
BURST_SIZES = (1, 4, 8, 16, 32, 64, 128, 256)
WIDTHS = (1, 2, 4)

# CONFIG (channel) bits
CFG_E = 1 << 0
CFG_SRC_PERIPH_SHIFT = 1
CFG_DST_PERIPH_SHIFT = 6
CFG_FLOW_SHIFT = 11
CFG_IE = 1 << 14
CFG_ITC = 1 << 15
CFG_LOCK = 1 << 16
CFG_ACTIVE = 1 << 17
CFG_HALT = 1 << 18
FLOW_M2M, FLOW_M2P, FLOW_P2M, FLOW_P2P = 0, 1, 2, 3


def width_of(code: int) -> int:
    """Bytes per beat for a SWidth/DWidth code; BusError-free: reserved codes raise."""
    try:
        return WIDTHS[code]  # codes are 3-bit fields, never negative
    except IndexError:
        raise ValueError(f"reserved width code {code}") from None


@dataclass
class Pl080Channel:
    """One physical channel's registers."""

    src: int = 0
    dst: int = 0
    lli: int = 0
    control: int = 0
    config: int = 0
    carry: int = 0  # memory-to-memory progress below one beat, in byte-ns units

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
        return width_of((self.control >> CTL_SW_SHIFT) & 7)

    @property
    def dwidth(self) -> int:
        return width_of((self.control >> CTL_DW_SHIFT) & 7)

    @property
    def bytes_left(self) -> int:
        """Bytes left in the current LLI (TransferSize counts source beats)."""
        return (self.control & CTL_TSIZE_MASK) * self.swidth


class Pl080:
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
        # Probes on the terminal-count interrupt: fn(n, channel, now_ns) as TC is raised.
        self.tc_probes: list[Callable[[int, Pl080Channel, int], None]] = []
        self.bytes_moved = 0
        self.peripherals: dict[int, Any] = {}  # request line -> the peripheral driving it
        # What the channels' CONFIG registers say about who serves a request line and who
        # runs memory to memory, worked out once and dropped whenever a CONFIG changes.
        self._routes: dict[tuple[int, bool], tuple[int, Pl080Channel] | None] = {}
        self._m2m_now: list[tuple[int, Pl080Channel]] | None = None
        # The channels whose CONFIG has ITC / IE set, as bit masks (None: to work out).
        self._itc_mask: int | None = None
        self._ie_mask: int | None = None
        bus.add_mmio(name, base, 0x1000, self)
        clock.add_agent(self)

    # -- the register interface --

    def mmio_read(self, off: int) -> int:
        if CH_BASE <= off < self._ch_end:
            ch = self.channels[(off - CH_BASE) // CH_STRIDE]
            reg = (off - CH_BASE) % CH_STRIDE
            if reg == CH_LLI:
                return ch.lli
            if reg == CH_CONTROL:
                return ch.control
            if reg == CH_SRC:
                return ch.src
            if reg == CH_DST:
                return ch.dst
            if reg == CH_CONFIG:
                active = ch.enabled and not ch.halted and ch.flow == FLOW_M2M
                return (ch.config & ~CFG_ACTIVE) | (CFG_ACTIVE if active else 0)
            return 0
        if 0xFE0 <= off < 0xFF0:
            return PERIPH_ID[(off - 0xFE0) // 4]
        if 0xFF0 <= off < 0x1000:
            return PCELL_ID[(off - 0xFF0) // 4]
        if off == INT_STATUS:
            return self._tc_status() | self._err_status()
        if off == INT_TC_STATUS:
            return self._tc_status()
        if off == INT_ERR_STATUS:
            return self._err_status()
        if off == RAW_INT_TC_STATUS:
            return self.raw_tc
        if off == RAW_INT_ERR_STATUS:
            return self.raw_err
        if off == ENBLD_CHNS:
            return sum(1 << i for i, c in enumerate(self.channels) if c.enabled)
        if off == CONFIG:
            return self.config
        return 0

    def mmio_write(self, off: int, value: int) -> None:
        if CH_BASE <= off < self._ch_end:
            n = (off - CH_BASE) // CH_STRIDE
            ch = self.channels[n]
            reg = (off - CH_BASE) % CH_STRIDE
            if reg == CH_SRC:
                ch.src = value
            elif reg == CH_DST:
                ch.dst = value
            elif reg == CH_LLI:
                ch.lli = value
            elif reg == CH_CONTROL:
                ch.control = value
            elif reg == CH_CONFIG:
                self._write_config(n, ch, value)
            return
        if off == INT_TC_CLEAR:
            self.raw_tc &= ~value
        elif off == INT_ERR_CLEAR:
            self.raw_err &= ~value
        elif off == CONFIG:
            self.config = value & 0x7
        self._update_irq()

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
        mask = self._itc_mask
        if mask is None:
            mask = self._itc_mask = self._mask(CFG_ITC)
        return self.raw_tc & mask

    def _err_status(self) -> int:
        mask = self._ie_mask
        if mask is None:
            mask = self._ie_mask = self._mask(CFG_IE)
        return self.raw_err & mask

    def _update_irq(self) -> None:
        self.irqc.set_level(self.irq, bool(self._tc_status() | self._err_status()))

    # -- the transfer engine --

    def _config_changed(self) -> None:
        self._routes.clear()
        self._m2m_now = None
        self._itc_mask = self._ie_mask = None

    def _fault(self, n: int, ch: Pl080Channel) -> None:
        ch.config &= ~CFG_E
        self._config_changed()
        self.raw_err |= 1 << n
        self._update_irq()

    def _end_of_lli(self, n: int, ch: Pl080Channel) -> None:
        if ch.control & CTL_TC_IRQ:
            self.raw_tc |= 1 << n
            for probe in self.tc_probes:
                probe(n, ch, self.clock.now_ns)
        if ch.lli & ~3:
            words = self.bus.ram_view(ch.lli & ~3, 16, False).view("<u4")
            ch.src, ch.dst, ch.lli, ch.control = words.tolist()
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
        key = (line, to_periph)
        if key in self._routes:
            return self._routes[key]
        found = self._routes[key] = self._route(line, to_periph)
        return found

    def _route(self, line: int, to_periph: bool) -> tuple[int, Pl080Channel] | None:
        if line in self.starved_lines:
            return None
        for n, ch in enumerate(self.channels):
            if not ch.enabled or ch.halted:
                continue
            if to_periph and ch.flow == FLOW_M2P:
                if (ch.config >> CFG_DST_PERIPH_SHIFT) & 0xF == line:
                    return n, ch
            if not to_periph and ch.flow == FLOW_P2M:
                if (ch.config >> CFG_SRC_PERIPH_SHIFT) & 0xF == line:
                    return n, ch
        return None

    def starve(self, line: int, on: bool) -> None:
        """Fault injection: stop (or resume) serving request ``line``; the channel keeps
        its registers and carries on where it was when the starvation ends."""
        with self.clock.hw_lock:
            self._config_changed()
            if on:
                self.starved_lines.add(line)
                return
            self.starved_lines.discard(line)
            peripheral = self.peripherals.get(line)
            if peripheral is not None:
                peripheral.dma_request_ready(line)

    def connect_request_line(self, line: int, peripheral: Any) -> None:
        """Wire a peripheral's request output to ``line`` (it gets ``dma_request_ready``)."""
        self.peripherals[line] = peripheral

    def dma_request(self, line: int, nbytes: int, to_periph: bool) -> int:
        """A peripheral asserts its request line for up to ``nbytes``; bytes moved.

        ``to_periph`` says which way: a TX FIFO wants data (memory to peripheral), an RX
        FIFO has data (peripheral to memory).
        """
        found = self._channel_for(line, to_periph)
        if found is None:
            return 0
        return self._move(found[0], found[1], nbytes)

    def burst_bytes(self, line: int, to_periph: bool) -> int | None:
        """Bytes per burst on the peripheral side of the channel serving ``line``."""
        found = self._channel_for(line, to_periph)
        if found is None:
            return None
        ch = found[1]
        if to_periph:
            return BURST_SIZES[(ch.control >> CTL_DB_SHIFT) & 7] * ch.dwidth
        return BURST_SIZES[(ch.control >> CTL_SB_SHIFT) & 7] * ch.swidth

    def bytes_to_event(self, line: int, to_periph: bool) -> int | None:
        """Bytes the channel serving ``line`` moves before its current LLI ends."""
        found = self._channel_for(line, to_periph)
        return None if found is None else found[1].bytes_left

    # -- the clock agent (memory-to-memory channels) --

    def _m2m(self) -> list[tuple[int, Pl080Channel]]:
        if self._m2m_now is None:
            self._m2m_now = [
                (n, c)
                for n, c in enumerate(self.channels)
                if c.enabled and not c.halted and c.flow == FLOW_M2M
            ]
        return self._m2m_now

    def next_event_ns(self) -> int | None:
        best = None
        for _, ch in self._m2m():
            need = max(ch.bytes_left * 1000 - ch.carry, 0)
            t = self.now_ns + -(-need // self.bytes_per_us)
            best = t if best is None else min(best, t)
        return best

    def advance_to(self, t_ns: int) -> None:
        elapsed = t_ns - self.now_ns
        self.now_ns = t_ns
        if elapsed <= 0:
            for n, ch in self._m2m():  # a channel just enabled with nothing to move
                if ch.bytes_left == 0:
                    self._end_of_lli(n, ch)
            return
        for n, ch in self._m2m():
            ch.carry += elapsed * self.bytes_per_us
            budget = ch.carry // 1000
            budget -= budget % ch.swidth
            moved = self._move(n, ch, budget)
            ch.carry = 0 if not ch.enabled else ch.carry - moved * 1000
