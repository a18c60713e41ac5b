"""demos/loopback.py: the test signal made again by range, and the capture checked a chunk
at a time against it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from demos.loopback import CaptureCheck, NoiseSignal

RATE = 8000


@settings(max_examples=60)
@given(frames=st.integers(1, 3 * NoiseSignal.BLOCK), margin=st.integers(0, 5000),
       fmt=st.sampled_from(["S16_LE", "S24_LE", "S32_LE"]), ch=st.sampled_from([1, 2, 8]),
       cut=st.data())
def test_any_range_of_the_signal_is_the_same_frames(frames, margin, fmt, ch, cut):
    sig = NoiseSignal(frames, margin, ch, fmt)
    whole = sig.read(0, sig.total)
    start = cut.draw(st.integers(0, sig.total + 10))
    n = cut.draw(st.integers(0, sig.total + 10 - start))
    part = sig.read(start, n)
    expect = np.zeros((n, ch), whole.dtype)
    inside = whole[start : start + n]
    expect[: len(inside)] = inside
    assert np.array_equal(part, expect)
    assert not whole[frames:].any()  # the margin is silence
    half = 1 << (sig.format.width - 2)
    assert whole.min() >= -half and whole.max() < half
    blocks = [whole[i : i + 64].tobytes() for i in range(0, frames - 63, NoiseSignal.BLOCK)]
    assert len(set(blocks)) == len(blocks)  # no block repeats another: the lag is unique


def _captured(sig: NoiseSignal, lag: int) -> np.ndarray:
    """What a loop ``lag`` frames long gives back: silence, then the signal, as many
    frames as were played."""
    out = np.zeros((sig.total, sig.channels), sig.format.dtype)
    out[lag:] = sig.read(0, sig.total - lag)
    return out


@settings(max_examples=60)
@given(seconds=st.floats(0.01, 2.5), lag=st.integers(0, 400), flip=st.none() | st.floats(0, 1),
       sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=20))
def test_the_chunked_check_finds_the_lag_and_every_wrong_frame(seconds, lag, flip, sizes):
    sig = NoiseSignal(int(RATE * seconds), RATE // 2, 2)
    captured = _captured(sig, lag)
    if flip is not None:  # one bit of one frame of the signal comes back wrong
        at = lag + min(int(flip * sig.frames), sig.frames - 1)
        captured[at, 1] ^= 1
    check, pos, k = CaptureCheck(sig, RATE), 0, 0
    while pos < len(captured):  # the capture arrives in chunks of any sizes
        n = sizes[k % len(sizes)]
        check.feed(captured[pos : pos + n])
        pos, k = pos + n, k + 1
    assert check.result() == (lag, flip is None)


def test_a_silent_or_short_capture_is_not_exact():
    sig = NoiseSignal(RATE, RATE // 2, 2)
    silent = CaptureCheck(sig, RATE)
    silent.feed(np.zeros((sig.total, 2), np.int16))
    assert silent.result() == (-1, False)
    sig = NoiseSignal(2 * RATE, RATE // 2, 2)
    short = CaptureCheck(sig, RATE)
    short.feed(_captured(sig, 100)[: 100 + sig.frames - 1])  # the last frame never came
    assert short.result() == (100, False)
