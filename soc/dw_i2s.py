"""Synopsys DesignWare APB I2S controller, the hardware model.

Counterpart: the DW_apb_i2s block driven by sound/soc/dwc/dwc-i2s.c. What it keeps and
simplifies: docs/design-notes.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from soc.clock import VirtualClock, frame_at_ns, ns_at_frame
from soc.dma_request import DmaRequestInterface
from soc.irq import InterruptController

IER: Final = 0x000
IRER: Final = 0x004
ITER: Final = 0x008
CER: Final = 0x00C
CCR: Final = 0x010
RXFFR: Final = 0x014
TXFFR: Final = 0x018
LRBR_LTHR: Final = 0x020
RRBR_RTHR: Final = 0x024
RER: Final = 0x028
TER: Final = 0x02C
RCR: Final = 0x030
TCR: Final = 0x034
ISR: Final = 0x038
IMR: Final = 0x03C
ROR: Final = 0x040
TOR: Final = 0x044
RFCR: Final = 0x048
TFCR: Final = 0x04C
RFF: Final = 0x050
TFF: Final = 0x054
PAIR_STRIDE: Final = 0x40
RXDMA: Final = 0x1C0
TXDMA: Final = 0x1C8
RXCHN: Final = 0x1E0  # model extension: active RX slots
TXCHN: Final = 0x1E4  # model extension: active TX slots
RXFLR: Final = 0x1E8  # model extension: RX FIFO level in frames (read-only)
TXFLR: Final = 0x1EC  # model extension: TX FIFO level in frames (read-only)
COMP_PARAM_1: Final = 0x1F4
COMP_VERSION: Final = 0x1F8
COMP_TYPE: Final = 0x1FC
COMP_TYPE_DW_I2S: Final = 0x445701A0

ISR_RXDA: Final = 1 << 0
ISR_RXFO: Final = 1 << 1
ISR_TXFE: Final = 1 << 4
ISR_TXFO: Final = 1 << 5
CCR_LEFT_J: Final = 1 << 8

_I2 = np.dtype("<i2")
_I4 = np.dtype("<i4")

# WLEN codes of RCR/TCR -> bits per word
WLEN_BITS = {1: 12, 2: 16, 3: 20, 4: 24, 5: 32}


@dataclass
class _Fifo:
    """One direction's FIFO: the bytes the DMA wrote (TX) or the serializer shifted in (RX)."""

    data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    moved: int = 0  # bytes moved by the DMA since the block was enabled

    @property
    def level(self) -> int:
        return int(self.data.size)

    def reset(self) -> None:
        self.data = np.zeros(0, np.uint8)
        self.moved = 0


class _TxFifo:
    """The TX FIFO's bytes in one buffer: the DMA appends, the serializer takes from the
    front; the live bytes move to the buffer's start only when an append would not fit."""

    def __init__(self) -> None:
        self.buf = np.zeros(0, np.uint8)
        self.head = 0
        self.tail = 0
        self.moved = 0  # bytes moved by the DMA since the block was enabled

    @property
    def level(self) -> int:
        return self.tail - self.head

    def reset(self) -> None:
        self.head = self.tail = 0
        self.moved = 0

    def push(self, data: np.ndarray) -> None:
        n = int(data.size)
        if self.tail + n > self.buf.size:
            live = self.tail - self.head
            buf = self.buf
            if live + n > buf.size:
                buf = np.empty(2 * (live + n), np.uint8)
            buf[:live] = self.buf[self.head : self.tail]  # numpy copies an overlap safely
            self.buf, self.head, self.tail = buf, 0, live
        self.buf[self.tail : self.tail + n] = data
        self.tail += n

    def take(self, nbytes: int) -> np.ndarray:
        """The first ``nbytes`` (a view, good until the next push)."""
        out = self.buf[self.head : self.head + nbytes]
        self.head += nbytes
        return out


class DwI2s:
    """The controller. A codec connected with :meth:`connect` is the far end of the bus."""

    def __init__(
        self,
        bus,
        clock: VirtualClock,
        irqc: InterruptController,
        irq: int,
        base: int,
        dmac: DmaRequestInterface,
        tx_request: int,
        rx_request: int,
        fifo_depth: int = 16,
        name: str = "i2s0",
    ) -> None:
        self.clock, self.irqc, self.irq = clock, irqc, irq
        self.base = base
        self.dmac = dmac
        self.tx_request, self.rx_request = tx_request, rx_request
        self.fifo_depth = fifo_depth
        self.name = name
        self.regs: dict[int, int] = {}
        self.tx = _TxFifo()
        self.rx = _Fifo()
        self.rate = 48000
        self.frame_ns_origin = 0  # the time at which frame 0 of the bit clock fell
        self.frames = 0  # frames the bit clock has run since the origin
        self.tx_sink: Callable[[np.ndarray], None] | None = None
        self.rx_source: Callable[[int], np.ndarray] | None = None
        self.tx_underrun_frames = 0
        self.tx_underruns = 0
        # trace hooks: fn(event, message) at a watermark request and a TX underrun
        self.trace: list[Callable[[str, str], None]] = []
        self.tx_underrun_at: list[int] = []  # bit-clock frame where each underrun began
        self.rx_overrun_frames = 0
        self.rx_overruns = 0
        self._tx_dry = False
        self._tx_geom: tuple[int, int, int] | None = None
        self._tx_geom_gen = -1
        self._latch()
        bus.add_mmio(name, base, 0x200, self)
        dmac.connect_request_line(tx_request, self)
        dmac.connect_request_line(rx_request, self)
        clock.add_agent(self)

    # -- the far end --

    def connect(
        self,
        rate: int,
        tx_sink: Callable[[np.ndarray], None] | None,
        rx_source: Callable[[int], np.ndarray] | None,
    ) -> None:
        """The codec provides the bit clock at ``rate``, takes TX frames, gives RX frames."""
        self.rate = rate
        self.frame_ns_origin = self.clock.now_ns
        self.frames = 0
        self.tx_sink, self.rx_source = tx_sink, rx_source

    # -- registers --

    def reg(self, off: int) -> int:
        return self.regs.get(off, 0)

    @property
    def enabled(self) -> bool:
        return bool(self.reg(IER) & 1)

    def _latch(self) -> None:
        """Decode the enables, channel counts, word lengths and the TX frame size and
        trigger after each register write, so that the clock's steps read attributes
        (``tx_on``, ``rx_on``, ``tx_channels``, ``rx_channels``, ``_tx_fb``) instead of
        decoding registers every time."""
        clocked = self.enabled and bool(self.reg(CER) & 1)
        self.tx_on = clocked and bool(self.reg(ITER) & 1)
        self.rx_on = clocked and bool(self.reg(IRER) & 1)
        self.tx_channels = max(1, min(8, self.reg(TXCHN) or 2))
        self.rx_channels = max(1, min(8, self.reg(RXCHN) or 2))
        self._bits = {cr: WLEN_BITS.get(self.reg(cr) & 7) for cr in (TCR, RCR)}
        tx_bits = self._bits[TCR]
        self._tx_fb = self.tx_channels * self.slot_bytes(tx_bits) if tx_bits else 0
        self._tx_trig = self.reg(TFCR) & 0xF  # in frames
        self._tx_geom = None

    def _wlen(self, cr: int) -> int:
        bits = self._bits[cr]
        if bits is None:
            raise ValueError(f"{self.name}: word length not programmed")
        return bits

    @staticmethod
    def slot_bytes(bits: int) -> int:
        """Bytes a DMA beat carries for one sample of ``bits`` (16 -> 2, else 4)."""
        return 2 if bits <= 16 else 4

    @property
    def left_justified(self) -> bool:
        return bool(self.reg(CCR) & CCR_LEFT_J)

    def mmio_read(self, off: int) -> int:
        if off == TXFLR:  # first: the PCM's delay reads it twice a period
            return self.tx.level // (self._tx_fb or 2 * self.tx_channels)
        if off == COMP_TYPE:
            return COMP_TYPE_DW_I2S
        if off == COMP_VERSION:
            return 0x3130322A
        if off == COMP_PARAM_1:  # TX/RX enabled, APB width 32, FIFO depth code
            depth_code = {2: 0, 4: 1, 8: 2, 16: 3}.get(self.fifo_depth, 3)
            return (depth_code << 2) | (1 << 5) | (1 << 6) | 2
        if off == ISR:
            return self.reg(ISR)
        if off == RXFLR:
            return self.rx.level // (self.rx_channels * self.slot_bytes(self._bits[RCR] or 16))
        if off == ROR:
            isr = self.reg(ISR)
            self.regs[ISR] = isr & ~ISR_RXFO
            self._update_irq()
            return isr & ISR_RXFO
        if off == TOR:
            isr = self.reg(ISR)
            self.regs[ISR] = isr & ~ISR_TXFO
            self._update_irq()
            return isr & ISR_TXFO
        return self.reg(off)

    def mmio_write(self, off: int, value: int) -> None:
        was_tx, was_rx = self.tx_on, self.rx_on
        self.regs[off] = value
        self._latch()
        if off in (TXFFR, TFF) and value & 1:
            self.tx.reset()
        if off in (RXFFR, RFF) and value & 1:
            self.rx.reset()
        if self.tx_on and not was_tx:
            self.tx.reset()
            self._tx_dry = False
            self._service_tx()  # an empty FIFO asks for data at once
        if off == IMR:
            self._update_irq()
        if self.rx_on and not was_rx:
            self.rx.reset()

    def _update_irq(self) -> None:
        pending = self.reg(ISR) & ~self.reg(IMR) & (ISR_TXFE | ISR_TXFO | ISR_RXFO | ISR_RXDA)
        self.irqc.set_level(self.irq, bool(pending))

    # -- DMA data ports (the DMA writes TXDMA, reads RXDMA) --

    def fifo_write(self, off: int, data: np.ndarray, width: int) -> None:
        if off not in (TXDMA, LRBR_LTHR, RRBR_RTHR) or not self.tx_on:
            return  # writes to a disabled block are lost
        self.tx.push(data)

    def fifo_read(self, off: int, nbytes: int, width: int) -> np.ndarray:
        if off not in (RXDMA, LRBR_LTHR, RRBR_RTHR):
            return np.zeros(nbytes, np.uint8)
        out = self.rx.data[:nbytes]
        self.rx.data = self.rx.data[nbytes:]
        if out.size < nbytes:  # reading an empty FIFO returns zeros
            out = np.concatenate([out, np.zeros(nbytes - out.size, np.uint8)])
        return out

    # -- the DMA handshake, in closed form --

    def _burst(self, to_periph: bool, slot: int) -> int:
        """Bytes per DMA burst: the DMA channel's programmed burst (one beat if none)."""
        line = self.tx_request if to_periph else self.rx_request
        return self.dmac.burst_bytes(line, to_periph) or slot

    def _tx_geometry(self) -> tuple[int, int, int]:
        """(frame bytes, burst bytes, trigger level in bytes) for TX, cached while neither
        this block's registers nor the DMA channel's shape or route change."""
        gen = self.dmac.generation
        if self._tx_geom is not None and self._tx_geom_gen == gen:
            return self._tx_geom
        self._tx_geom = geom = self._decode_tx_geometry()
        self._tx_geom_gen = gen
        return geom

    def _decode_tx_geometry(self) -> tuple[int, int, int]:
        fb = self._tx_fb
        if not fb:
            self._wlen(TCR)  # the word length is not programmed: raises ValueError
        bb = self._burst(True, fb // self.tx_channels)
        trig = min(self._tx_trig * fb, self.fifo_depth * fb - bb)  # a burst must fit
        return fb, bb, max(trig, 0)

    def _tx_want(self, n: int) -> int:
        """Bytes the DMA delivers while the serializer shifts ``n`` more frames out.

        The request is up while the level is at or below the trigger; each request is
        one burst; so the DMA brings the level just above the trigger.
        """
        fb, bb, trig = self._tx_geometry()
        level_after = self.tx.level - n * fb
        return bb * ((trig - level_after) // bb + 1) if level_after <= trig else 0

    def _service_tx(self, n: int = 0) -> None:
        if not self.tx_on:
            return
        want = self._tx_want(n)
        if want > 0:
            if self.trace:
                for hook in self.trace:
                    hook("i2s_dma_request", f"i2s={self.name} line={self.tx_request} "
                      f"bytes={want} level={self.tx.level}")
            got = self.dmac.dma_request(self.tx_request, want, to_periph=True)
            self.tx.moved += got

    def _tx_frames_to_event(self) -> int | None:
        """Frames until the DMA crosses its current LLI end (a possible interrupt)."""
        left = self.dmac.bytes_to_event(self.tx_request, to_periph=True)
        if not left:
            return None
        fb, bb, trig = self._tx_geometry()
        bursts = -(-left // bb)
        n = -(-((bursts - 1) * bb + self.tx.level - trig) // fb)
        return max(n, 1)

    def _rx_geometry(self) -> tuple[int, int, int]:
        slot = self.slot_bytes(self._wlen(RCR))
        fb = self.rx_channels * slot
        bb = self._burst(False, slot)
        trig = max(((self.reg(RFCR) & 0xF) + 1) * fb, bb)  # a whole burst must be there
        return fb, bb, min(trig, self.fifo_depth * fb)

    def _service_rx(self) -> None:
        if not self.rx_on:
            return
        _, bb, trig = self._rx_geometry()
        if self.rx.level >= trig:
            want = bb * ((self.rx.level - trig) // bb + 1)
            self.rx.moved += self.dmac.dma_request(self.rx_request, want, to_periph=False)

    def _rx_frames_to_event(self) -> int | None:
        left = self.dmac.bytes_to_event(self.rx_request, to_periph=False)
        if not left:
            return None
        fb, bb, trig = self._rx_geometry()
        bursts = -(-left // bb)
        need = trig + (bursts - 1) * bb - self.rx.level
        return max(-(-need // fb), 1)

    def dma_request_ready(self, line: int) -> None:
        """The DMA channel for ``line`` came up: a request that is asserted is seen now."""
        if line == self.tx_request:
            self._service_tx()
        elif line == self.rx_request:
            self._service_rx()

    # -- the clock agent --

    def next_event_ns(self) -> int | None:
        step = self._tx_frames_to_event() if self.tx_on else None
        if self.rx_on:
            rx = self._rx_frames_to_event()
            if rx is not None and (step is None or rx < step):
                step = rx
        if step is None:
            return None
        return self.frame_ns_origin + ns_at_frame(self.frames + step, self.rate)

    def advance_to(self, t_ns: int) -> None:
        target = frame_at_ns(t_ns - self.frame_ns_origin, self.rate)
        n = target - self.frames
        if n <= 0:
            return
        self.frames = target
        if self.tx_on:
            self._shift_out(n)
        elif self.tx_sink is not None:  # transmitter off: the line idles at zero
            self.tx_sink(np.zeros((n, self.tx_channels), np.int32))
        if self.rx_on:
            self._shift_in(n)

    def _shift_out(self, n: int) -> None:
        bits, fb = self._wlen(TCR), self._tx_fb
        self._service_tx(n)
        take = min(self.tx.level // fb, n)
        frames = self._decode(self.tx.take(take * fb), take, self.tx_channels, bits)
        dry = n - take
        if dry:
            self.tx_underrun_frames += dry
            if not self._tx_dry:
                self.tx_underruns += 1
                self.tx_underrun_at.append(self.frames - n + take)
                for hook in self.trace:
                    hook("i2s_underrun", f"i2s={self.name} frame={self.frames - n + take}")
            self.regs[ISR] = self.reg(ISR) | ISR_TXFE
            self._update_irq()
            frames = np.concatenate([frames, np.zeros((dry, self.tx_channels), np.int32)])
        self._tx_dry = dry > 0
        if self.tx_sink is not None:
            self.tx_sink(frames)

    @staticmethod
    def _decode(raw: np.ndarray, frames: int, channels: int, bits: int) -> np.ndarray:
        """DMA bytes to sample values (a new array): the low ``bits`` of each word,
        sign-extended."""
        if bits <= 16:
            words = raw.view(_I2).astype(np.int32)
        else:
            words = raw.view(_I4).copy()
        if bits not in (16, 32):
            shift = 32 - bits if bits > 16 else 16 - bits
            words = (words << shift) >> shift
        return words.reshape(frames, channels)

    @staticmethod
    def _encode(frames: np.ndarray, bits: int) -> np.ndarray:
        """Sample values to the bytes the DMA reads: one 16- or 32-bit word a sample."""
        dtype = "<i2" if bits <= 16 else "<i4"
        return np.ascontiguousarray(frames, dtype=dtype).reshape(-1).view(np.uint8)

    def _shift_in(self, n: int) -> None:
        ch, bits = self.rx_channels, self._wlen(RCR)
        fb = ch * self.slot_bytes(bits)
        if self.rx_source is not None:
            frames = np.asarray(self.rx_source(n), dtype=np.int32).reshape(n, ch)
        else:
            frames = np.zeros((n, ch), np.int32)
        self.rx.data = np.concatenate([self.rx.data, self._encode(frames, bits)])
        self._service_rx()
        depth = self.fifo_depth * fb
        if self.rx.level > depth:
            lost = (self.rx.level - depth) // fb
            self.rx.data = self.rx.data[:depth]
            self.rx_overrun_frames += lost
            self.rx_overruns += 1
            self.regs[ISR] = self.reg(ISR) | ISR_RXFO
            self._update_irq()
