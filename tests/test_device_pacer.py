"""The device pacer, driven by a callback thread of our own in place of PortAudio's.

The pacer's seam is ``take(outdata, card_frames)``: a device callback asks for the frames
that follow those it already has. A thread calling it every 256 frames of wall time is
what PortAudio's JACK host does; everything below it is the real SoC.
"""

from __future__ import annotations

import threading
import time

import numpy as np

import dma
from soc.board import RAM_BASE, make_board
from soc.clock import RealtimeClock, frame_at_ns
from soc.device_pacer import DevicePacer
from soc.line_format import line_to_device
from tests.i2s_path import compare_to_ring, start_tx

RING = np.random.default_rng(5).integers(-32768, 32768, size=(1024, 2)).astype(np.int32)
BLOCK, RATE = 256, 48000


def _paced_board():
    board = make_board(clock=RealtimeClock())
    board.populate()
    clock, i2s = board.soc.clock, board.soc.hw["i2s0"]
    pacer = DevicePacer(clock, RATE, clock.now_ns)
    i2s.connect(RATE, lambda frames: pacer.put(line_to_device(frames, 16)), None)
    return board, clock, i2s, pacer


def _callbacks(pacer: DevicePacer, blocks: int, out: list[np.ndarray]) -> None:
    """A device asking for BLOCK frames every BLOCK sample periods, as a server's cycle."""
    t0 = time.monotonic()
    for k in range(blocks):
        time.sleep(max(t0 + k * BLOCK / RATE - time.monotonic(), 0))
        outdata = np.empty((BLOCK, 2), np.int16)
        pacer.take(outdata, k * BLOCK)
        out.append(outdata)


def test_paced_playback_is_bit_exact_and_the_serializer_leads_by_what_is_ready():
    board, clock, i2s, pacer = _paced_board()
    try:
        chan, periods = start_tx(board, RING, 256)  # a ring of 4 blocks, 256-frame periods
        out: list[np.ndarray] = []
        cb = threading.Thread(target=_callbacks, args=(pacer, 150, out))
        cb.start()
        cb.join(30)
        pacer.stop()
        played = np.concatenate(out).astype(np.int32)
        check = compare_to_ring(played, RING)
        assert check["ok"], check
        assert check["compared"] >= 149 * BLOCK - len(RING)
        # every frame the serializer shifted out went to the device or waits for it
        assert i2s.frames == 150 * BLOCK + pacer.ready_frames
        assert pacer.ready_frames <= pacer.lead_frames
        # the interrupts came as wall time passed, not in bursts at the callbacks: the
        # pacer stepped to the period ends, so the callbacks rarely moved the SoC
        assert len(periods) >= 140
        assert pacer.catch_ups <= 10
        assert pacer.events >= 140 - pacer.catch_ups
        # and the period bottom halves ran on the pacer at irq_exit, not on the worker
        runs = board.soc.cpu.runs
        assert runs["irq_exit"] >= len(periods) - 10 >= runs["worker"]
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        pacer.stop()
        board.remove()


def test_the_pacer_stops_within_its_lead_when_the_card_stops_calling():
    board, clock, i2s, pacer = _paced_board()
    try:
        chan, _ = start_tx(board, RING, 256)
        out: list[np.ndarray] = []
        _callbacks(pacer, 20, out)
        time.sleep(0.3)  # the device went quiet for 56 blocks
        soc = frame_at_ns(clock.now_ns - pacer.origin_ns, RATE)
        assert 20 * BLOCK <= soc <= 20 * BLOCK + pacer.lead_frames
        assert soc - 20 * BLOCK == pacer.ready_frames
        pacer.stop()
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        pacer.stop()
        board.remove()


def test_small_periods_come_apart_in_wall_time_not_in_bursts_at_the_callbacks():
    """16 periods of 64 frames, a device callback every 256: four interrupts a callback,
    which a device that moved the SoC itself would raise back to back."""
    board, clock, i2s, pacer = _paced_board()
    try:
        chan, periods = start_tx(board, RING, 64)
        out: list[np.ndarray] = []
        _callbacks(pacer, 100, out)
        pacer.stop()
        check = compare_to_ring(np.concatenate(out).astype(np.int32), RING)
        assert check["ok"], check
        gaps = np.diff(periods[20:])  # after the start, in seconds; a period is 1.33 ms
        assert len(gaps) >= 300
        assert float(np.median(gaps)) >= 0.5e-3
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        pacer.stop()
        board.remove()


def test_a_cpu_write_lands_at_the_present_the_card_plus_the_lead():
    """Idle hardware (no events): the callbacks leave the SoC anywhere up to the lead
    past the device; a CPU-side write first moves it to where the device stands plus the
    lead, so that what the write starts starts at the lead the interrupts run at."""
    board, clock, i2s, pacer = _paced_board()
    try:
        _callbacks(pacer, 20, [])
        time.sleep(0.05)  # the device went quiet: it stands at the end of its next block
        bus = board.soc.bus
        with clock.hw_lock:  # a thread holding the hardware lock does not move it
            before = clock.now_ns
            bus.write32(RAM_BASE, 1)
            assert clock.now_ns == before
        bus.write32(RAM_BASE, 2)
        soc = frame_at_ns(clock.now_ns - pacer.origin_ns, RATE)
        assert soc == 21 * BLOCK + pacer.lead_blocks * BLOCK
        assert pacer.ready_frames == soc - 20 * BLOCK == pacer.lead_frames
        pacer.stop()
        assert clock.present is None  # a stopped pacer no longer moves the hardware
    finally:
        pacer.stop()
        board.remove()


def test_a_cpu_write_never_waits_for_a_step_in_progress():
    """A writer may hold a channel's lock that the top half of a step in progress needs:
    its write must not wait for that step, or neither would finish."""
    board, clock, i2s, pacer = _paced_board()
    try:
        _callbacks(pacer, 20, [])
        time.sleep(0.05)
        before = clock.now_ns
        stepping, release = threading.Event(), threading.Event()

        def step_in_progress() -> None:
            with pacer._mover:
                stepping.set()
                release.wait(5)

        mover = threading.Thread(target=step_in_progress)
        mover.start()
        assert stepping.wait(2)
        writer = threading.Thread(target=board.soc.bus.write32, args=(RAM_BASE, 3))
        writer.start()
        writer.join(1.0)
        finished = not writer.is_alive()
        release.set()
        mover.join(2)
        writer.join(2)
        assert finished  # the write did not wait for the mover
        assert clock.now_ns == before  # and landed where the hardware was
        bus_word = int(board.soc.bus.ram_view(RAM_BASE, 4, False).view("<u4")[0])
        assert bus_word == 3
        pacer.stop()
    finally:
        pacer.stop()
        board.remove()


def test_a_late_pacer_catches_up_at_half_the_spacing_not_in_a_burst():
    """The pacer cannot step for 6 ms (a busy CPU): the 64-frame periods that fell due
    meanwhile (1.33 ms apart) come 0.67 ms apart, so a writer woken by each bottom half
    can run before the next, rather than all at once."""
    board, clock, i2s, pacer = _paced_board()
    try:
        chan, periods = start_tx(board, RING, 64)
        out: list[np.ndarray] = []
        cb = threading.Thread(target=_callbacks, args=(pacer, 60, out))
        cb.start()
        time.sleep(0.1)
        with pacer._mover:
            time.sleep(0.006)
            released = time.monotonic()
        cb.join(10)
        pacer.stop()
        after = [t for t in periods if t >= released][:4]
        gaps = np.diff(after)
        assert len(gaps) == 3
        # (steps 0.67 ms apart; the bottom halves that time them may run late under load,
        # so the bound leaves room, and is still seven times a back-to-back burst's gap)
        assert gaps.min() >= 0.25e-3, gaps
        check = compare_to_ring(np.concatenate(out).astype(np.int32), RING)
        assert check["ok"], check
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        pacer.stop()
        board.remove()
