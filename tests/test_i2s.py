"""Memory -> cyclic DMA -> I2S FIFO -> line (and back), on the virtual clock.

The I2S registers are programmed here directly, as the DAI driver of the PCM issue will;
the DMA goes through the consumer API.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dma
from dma.dmaengine import TransferDirection as Dir
from dma.mapping import dma_alloc_coherent
from soc import dw_i2s as r
from soc.board import I2S_BASE, make_board
from soc.clock import ns_at_frame
from tests.i2s_path import WLEN

RATE = 48000


class Line:
    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.times: list[int] = []

    def __call__(self, frames: np.ndarray) -> None:
        self.chunks.append(frames.copy())

    def frames(self) -> np.ndarray:
        return np.concatenate(self.chunks)


@pytest.fixture
def board():
    b = make_board()
    b.populate()
    yield b
    b.remove()


def _samples(rng, n, ch, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1))
    return rng.integers(lo, hi, size=(n, ch), dtype=np.int64)


def _setup_i2s(i2s, bits, ch, tx=True, trigger=8):
    cr, chn, fcr = (r.TCR, r.TXCHN, r.TFCR) if tx else (r.RCR, r.RXCHN, r.RFCR)
    i2s.mmio_write(cr, WLEN[bits])
    i2s.mmio_write(chn, ch)
    i2s.mmio_write(fcr, trigger)
    i2s.mmio_write(r.IER, 1)
    i2s.mmio_write(r.CER, 1)


def _cyclic(board, name, direction, ring_bytes, slot):
    chan = dma.request_chan(board.devices["i2s0"], name)
    cfg = dma.SlaveConfig(direction=direction)
    if direction == Dir.MEM_TO_DEV:
        cfg.dst_addr, cfg.dst_addr_width, cfg.dst_maxburst = I2S_BASE + r.TXDMA, slot, 8
    else:
        cfg.src_addr, cfg.src_addr_width, cfg.src_maxburst = I2S_BASE + r.RXDMA, slot, 8
    dma.slave_config(chan, cfg)
    cpu, addr = dma_alloc_coherent(board.devices["dma0"], ring_bytes)
    return chan, cpu, addr


def _start(chan, addr, ring_bytes, period_bytes, direction, callback):
    tx = dma.prep_dma_cyclic(chan, addr, ring_bytes, period_bytes, direction,
                             dma.PrepFlags.PREP_INTERRUPT)
    tx.callback = callback
    cookie = dma.submit(tx)
    dma.issue_pending(chan)
    return cookie


@pytest.mark.parametrize("bits", [16, 24, 32])
@pytest.mark.parametrize("ch", [1, 2, 6])
def test_playback_is_bit_exact(board, bits, ch):
    rng = np.random.default_rng(bits * 10 + ch)
    i2s = board.soc.hw["i2s0"]
    slot = 2 if bits == 16 else 4
    period, periods = 256, 4
    ring_bytes = period * periods * ch * slot
    samples = _samples(rng, period * periods, ch, bits)
    chan, cpu, addr = _cyclic(board, "tx", Dir.MEM_TO_DEV, ring_bytes, slot)
    words = samples.astype("<i2" if slot == 2 else "<i4")
    if bits == 24:  # the upper byte of a 24-bit word is ignored by the serializer
        words = words | (rng.integers(0, 256, size=words.shape, dtype=np.int64) << 24).astype("<i4")
    cpu[:] = words.reshape(-1).view(np.uint8)
    line = Line()
    i2s.connect(RATE, line, None)
    _setup_i2s(i2s, bits, ch)
    calls = []
    _start(chan, addr, ring_bytes, period * ch * slot, Dir.MEM_TO_DEV,
           lambda p: calls.append(board.soc.clock.now_ns))
    i2s.mmio_write(r.ITER, 1)
    n = period * periods * 3 + 100
    board.soc.clock.run_until(ns_at_frame(n, RATE))
    out = line.frames()
    assert out.shape == (n, ch)
    np.testing.assert_array_equal(out, np.resize(samples, (n, ch)).astype(np.int32))
    assert i2s.tx_underrun_frames == 0 and i2s.tx_underruns == 0
    # the first period interrupt: the first frame at which the DMA, keeping the FIFO just
    # above its trigger level in bursts of 8 beats, has fetched the whole first period
    fb, bb, trig = ch * slot, 8 * slot, min(8 * ch * slot, 16 * ch * slot - 8 * slot)
    first = next(k for k in range(10**6) if bb * ((k * fb + trig) // bb + 1) >= period * fb)
    assert calls[0] == ns_at_frame(first, RATE)
    dma.terminate_sync(chan)
    dma.release_channel(chan)


@pytest.mark.parametrize("bits", [16, 24, 32])
@pytest.mark.parametrize("ch", [1, 2, 6])
def test_capture_is_bit_exact(board, bits, ch):
    rng = np.random.default_rng(bits + ch)
    i2s = board.soc.hw["i2s0"]
    slot = 2 if bits == 16 else 4
    period, periods = 256, 4
    ring_bytes = period * periods * ch * slot
    n = period * periods  # one trip round the ring
    source = _samples(rng, n + 4096, ch, bits).astype(np.int32)
    pos = [0]

    def supply(k):
        out = source[pos[0] : pos[0] + k]
        pos[0] += k
        return out

    chan, cpu, addr = _cyclic(board, "rx", Dir.DEV_TO_MEM, ring_bytes, slot)
    i2s.connect(RATE, None, supply)
    _setup_i2s(i2s, bits, ch, tx=False, trigger=7)
    calls = []
    _start(chan, addr, ring_bytes, period * ch * slot, Dir.DEV_TO_MEM,
           lambda p: calls.append(board.soc.clock.now_ns))
    i2s.mmio_write(r.IRER, 1)
    board.soc.clock.run_until(ns_at_frame(n + 64, RATE))  # past one trip: the ring wrapped
    taken = i2s.rx.moved  # bytes; with 6 channels a burst may end inside a frame
    assert ring_bytes <= taken <= ring_bytes + 64 * ch * slot
    stream = source.astype("<i2" if slot == 2 else "<i4").reshape(-1).view(np.uint8)
    expected = stream[:ring_bytes].copy()
    expected[: taken - ring_bytes] = stream[ring_bytes:taken]  # newest over oldest
    np.testing.assert_array_equal(cpu, expected)
    assert len(calls) == periods and i2s.rx_overrun_frames == 0
    dma.terminate_sync(chan)
    dma.release_channel(chan)


def test_paused_dma_underruns_with_zeros_then_resumes_where_it_stopped(board):
    i2s = board.soc.hw["i2s0"]
    rng = np.random.default_rng(5)
    samples = _samples(rng, 1024, 2, 16) | 1  # no zero samples, so gaps are visible
    chan, cpu, addr = _cyclic(board, "tx", Dir.MEM_TO_DEV, 4096, 2)
    cpu[:] = samples.astype("<i2").reshape(-1).view(np.uint8)
    line = Line()
    i2s.connect(RATE, line, None)
    _setup_i2s(i2s, 16, 2)
    i2s.mmio_write(r.IMR, 0)
    _start(chan, addr, 4096, 1024, Dir.MEM_TO_DEV, lambda p: None)
    i2s.mmio_write(r.ITER, 1)
    clock = board.soc.clock
    clock.run_until(ns_at_frame(300, RATE))
    dma.pause(chan)
    clock.run_until(ns_at_frame(800, RATE))
    assert i2s.mmio_read(r.ISR) & r.ISR_TXFE and board.soc.irqc.asserted[16]
    dma.resume(chan)
    clock.run_until(ns_at_frame(2000, RATE))
    out = line.frames()
    gap = i2s.tx_underrun_frames
    dry = np.nonzero((out == 0).all(axis=1))[0]
    assert i2s.tx_underruns == 1 and gap == dry.size and gap > 400
    k = int(dry[0])  # the FIFO drained first: what was in it still played
    stream = np.resize(samples, (2000, 2))
    np.testing.assert_array_equal(out[:k], stream[:k])
    assert (dry == np.arange(k, k + gap)).all()
    np.testing.assert_array_equal(out[k + gap :], stream[k : 2000 - gap])
    dma.terminate_sync(chan)
    dma.release_channel(chan)


def test_unserviced_capture_overruns(board):
    i2s = board.soc.hw["i2s0"]
    i2s.connect(RATE, None, lambda k: np.ones((k, 2), np.int32))
    _setup_i2s(i2s, 16, 2, tx=False)
    i2s.mmio_write(r.IRER, 1)
    board.soc.clock.run_until(ns_at_frame(1000, RATE))
    assert i2s.rx_overrun_frames == 1000 - i2s.fifo_depth
    assert i2s.mmio_read(r.ISR) & r.ISR_RXFO
    assert i2s.mmio_read(r.ROR) and not i2s.mmio_read(r.ISR) & r.ISR_RXFO  # read to clear


def test_no_drift_over_ten_million_frames_in_odd_blocks(board):
    i2s = board.soc.hw["i2s0"]
    chan, cpu, addr = _cyclic(board, "tx", Dir.MEM_TO_DEV, 4 * 4096, 2)
    cpu[:] = np.arange(cpu.size, dtype=np.uint8)
    frames = [0]
    i2s.connect(44100, lambda f: frames.__setitem__(0, frames[0] + len(f)), None)
    _setup_i2s(i2s, 16, 2)
    _start(chan, addr, 4 * 4096, 4096, Dir.MEM_TO_DEV, lambda p: None)
    i2s.mmio_write(r.ITER, 1)
    rng = np.random.default_rng(0)
    total = 0
    clock = board.soc.clock
    while total < 10**7:
        total += int(rng.choice([1, 7, 441, 1021, 4093, 9973]))
        clock.run_until(ns_at_frame(total, 44100))
        assert i2s.frames == total
    assert frames[0] == total and i2s.tx_underrun_frames == 0
    dma.terminate_sync(chan)
    dma.release_channel(chan)



def test_top_half_never_runs_with_the_hardware_locked(board):
    """Enabling TX makes the empty FIFO pull its first fill at once, inside the register
    write; with periods shorter than that fill, period interrupts are raised there. Their
    top half must wait until the write lets go of the hardware lock: a top half takes a
    channel lock, and drivers take channel locks before the hardware's, never after."""
    held: list[bool] = []
    action = board.soc.irqc.actions[15]
    inner = action.handler

    def handler(line):
        held.append(board.soc.clock.hw_lock.held_here())
        inner(line)

    action.handler = handler
    chan, cpu, addr = _cyclic(board, "tx", Dir.MEM_TO_DEV, 256, 2)
    board.soc.hw["i2s0"].connect(RATE, Line(), None)
    bus = board.soc.bus
    for reg, value in ((r.TCR, WLEN[16]), (r.TXCHN, 2), (r.TFCR, 8), (r.IER, 1), (r.CER, 1)):
        bus.write32(I2S_BASE + reg, value)
    _start(chan, addr, 256, 16, Dir.MEM_TO_DEV, lambda p: None)  # 4-frame periods
    assert held == []
    bus.write32(I2S_BASE + r.ITER, 1)  # as the DAI driver will: through the bus
    assert held and not any(held)
    dma.terminate_sync(chan)
    dma.release_channel(chan)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 300)), max_size=40))
def test_the_tx_fifo_gives_back_its_bytes_in_order(ops):
    """Pushes and takes in any order and size: the bytes come out as they went in, and a
    view taken is its bytes until the next push."""
    from soc.dw_i2s import _TxFifo

    fifo, ref, counter = _TxFifo(), bytearray(), 0
    for push, n in ops:
        if push:
            data = (np.arange(counter, counter + n) % 251).astype(np.uint8)
            counter += n
            fifo.push(data)
            ref += data.tobytes()
        else:
            n = min(n, fifo.level)
            assert fifo.take(n).tobytes() == bytes(ref[:n])
            del ref[:n]
        assert fifo.level == len(ref)
