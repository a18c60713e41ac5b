"""The virtual device on both clocks, and the real-time bottom-half machinery."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

import dma
from soc.board import make_board
from soc.clock import RealtimeClock, ns_at_frame
from soc.line_format import device_to_line, line_to_device
from soc.sound_device import DeviceError, PortAudioDevice, VirtualDevice
from soc.switch_interval import SwitchInterval
from tests.i2s_path import compare_to_ring, start_tx

RING = np.random.default_rng(2).integers(-32768, 32768, size=(2048, 2)).astype(np.int32)


@pytest.mark.parametrize("bits", [12, 16, 20, 24, 32])
def test_line_card_conversion_round_trips(bits):
    values = np.random.default_rng(bits).integers(-(1 << (bits - 1)), 1 << (bits - 1),
                                                  size=(100, 2)).astype(np.int32)
    samples = line_to_device(values, bits)
    assert samples.dtype == (np.int16 if bits <= 16 else np.int32)
    np.testing.assert_array_equal(device_to_line(samples, bits), values)


def test_virtual_card_on_the_virtual_clock_is_bit_exact():
    board = make_board()
    board.populate()
    try:
        device = VirtualDevice(board.soc.clock, board.soc.hw["i2s0"])
        device.start()
        chan, periods = start_tx(board, RING, 512)
        board.soc.clock.run_until(board.soc.clock.now_ns + ns_at_frame(10_000, 48000))
        rec = device.recorded()
        assert len(rec) == 10_000 and len(periods) >= 19
        np.testing.assert_array_equal(rec, np.resize(RING, rec.shape))
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        board.remove()


def test_virtual_card_on_the_wall_clock_with_threaded_bottom_halves():
    board = make_board(clock=RealtimeClock())
    board.populate()
    try:
        device = VirtualDevice(board.soc.clock, board.soc.hw["i2s0"])
        chan, periods = start_tx(board, RING, 512)
        device.start()
        t0 = time.monotonic()
        # a writer-like wait: woken by the bottom halves, no polling of the hardware
        assert board.soc.clock.wait_until(lambda: len(periods) >= 20, 5 * 10**9)
        elapsed = time.monotonic() - t0
        device.stop()
        rec = device.recorded()
        check = compare_to_ring(rec, RING)
        assert check["ok"] and check["start"] == 0 and check["ring_offset"] == 0
        assert elapsed >= 19 * 512 / 48000 * 0.9  # paced by the wall, not as fast as possible
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        board.remove()


def test_a_missing_device_is_a_clear_error():
    board = make_board(clock=RealtimeClock())
    board.populate()
    try:
        device = PortAudioDevice(board.soc.clock, board.soc.hw["i2s0"], device="no such card")
        with pytest.raises(DeviceError, match="no such card"):
            device.start()
    finally:
        board.remove()


def test_virtual_card_wav_record_and_source(tmp_path):
    from scipy.io import wavfile

    board = make_board()
    board.populate()
    try:
        device = VirtualDevice(board.soc.clock, board.soc.hw["i2s0"], bits=24)
        device.start()
        ring = (RING << 8) | 0x5A  # 24-bit words
        chan, _ = start_tx(board, ring, 512, bits=24)
        board.soc.clock.run_until(board.soc.clock.now_ns + ns_at_frame(3000, 48000))
        path = tmp_path / "played.wav"
        device.save_wav(str(path))
        rate, data = wavfile.read(path)
        assert rate == 48000 and data.dtype == np.int32 and data.shape == (3000, 2)
        np.testing.assert_array_equal(data >> 8, np.resize(ring, (3000, 2)))
        back = VirtualDevice.wav_source(str(path), 24)
        np.testing.assert_array_equal(back, np.resize(ring, (3000, 2)))
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        board.remove()


def test_switch_interval_is_held_low_while_any_card_runs_and_restored_once():
    before = sys.getswitchinterval()
    held = SwitchInterval(limit_s=0.001)
    try:
        sys.setswitchinterval(0.005)
        held.hold()
        assert sys.getswitchinterval() == pytest.approx(0.001)
        held.hold()  # a second device (capture beside playback)
        held.release()
        assert sys.getswitchinterval() == pytest.approx(0.001)  # one device still runs
        held.release()
        assert sys.getswitchinterval() == pytest.approx(0.005)
        sys.setswitchinterval(0.0002)  # already lower: left as it is, then restored
        held.hold()
        assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)
        held.release()
        assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)
    finally:
        sys.setswitchinterval(before)
