"""demos/series.py: the plot's samples in bounded memory."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from demos.series import Series


@settings(max_examples=100)
@given(ys=st.lists(st.integers(-1000, 1000), max_size=600), cap=st.integers(2, 64))
def test_every_sample_lies_in_its_point_and_the_points_stay_within_the_cap(ys, cap):
    s = Series(cap)
    for k, y in enumerate(ys):
        s.append(10 * k, y)
    t, lo, hi = s.points()
    assert len(s) <= s.cap and len(t) == len(lo) == len(hi) == len(s)
    if len(ys) <= s.cap:  # no point merged: the samples themselves
        assert t.tolist() == [10 * k for k in range(len(ys))] and lo.tolist() == ys
        assert hi.tolist() == ys
        return
    # each point holds `stride` consecutive samples (the last point up to that)
    for i in range(len(s)):
        chunk = ys[i * s.stride : (i + 1) * s.stride]
        assert t[i] == 10 * i * s.stride
        assert (lo[i], hi[i]) == (min(chunk), max(chunk))
    assert (len(s) - 1) * s.stride < len(ys) <= len(s) * s.stride
    assert len(s) > s.cap // 2 - 1  # merging halves, never empties


def test_a_long_run_keeps_its_extremes():
    s = Series(16)
    y = np.zeros(10_000, np.int64)
    y[7777] = -5
    y[1234] = 9
    for k, v in enumerate(y):
        s.append(k, int(v))
    t, lo, hi = s.points()
    assert len(s) <= 16 and lo.min() == -5 and hi.max() == 9
    assert t[np.argmin(lo)] <= 7777 < t[np.argmin(lo)] + s.stride
