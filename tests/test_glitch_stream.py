"""The streaming glitch analysis (demos/glitch_stream.py) against the whole-array one
(demos/glitches.py), over outputs made from the stress signal by searched edits."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from demos.glitch_stream import StreamAnalyser
from demos.glitches import analyse
from demos.stress import stress_signal

INPUT = stress_signal(48000, 2, 1.0, 7)

edit = st.one_of(
    st.tuples(st.just("play"), st.integers(1, 6000)),
    st.tuples(st.just("silence"), st.integers(1, 3000)),
    st.tuples(st.just("noise"), st.integers(1, 500)),
    st.tuples(st.just("skip"), st.integers(1, 2000)),
    st.tuples(st.just("replay"), st.integers(1, 2000)),
)


def _output(edits) -> np.ndarray:
    """The input as a faulty path would deliver it: ``edits`` applied in order, then the
    rest of the input."""
    rng = np.random.default_rng(0)
    parts, pos = [np.zeros((int(rng.integers(0, 300)), 2), np.int16)], 0
    for kind, n in edits:
        if kind == "play":
            parts.append(INPUT[pos : pos + n])
            pos += n
        elif kind == "silence":
            parts.append(np.zeros((n, 2), np.int16))
        elif kind == "noise":
            parts.append(rng.integers(-3000, 3000, (n, 2)).astype(np.int16))
        elif kind == "skip":
            pos += n
        else:  # an earlier stretch again, as a free-running ring replays it
            back = max(pos - n, 0)
            parts.append(INPUT[back : back + n])
        pos = min(pos, len(INPUT))
    parts.append(INPUT[pos:])
    return np.concatenate(parts)


@given(edits=st.lists(edit, max_size=8), blocks=st.lists(st.integers(1, 5000), min_size=1))
def test_the_streaming_analysis_is_the_whole_arrays(edits, blocks):
    out = _output(edits)
    want = analyse(INPUT.astype(np.int64), out.astype(np.int64))
    sa = StreamAnalyser(lambda i, n: INPUT[i : i + n], len(INPUT), 8192)
    i = k = 0
    while i < len(out):
        step = blocks[k % len(blocks)]
        sa.push(out[i : i + step])
        i, k = i + step, k + 1
    got = sa.finish()
    assert got == want


def test_memory_stays_a_few_horizons_for_a_long_output():
    """A minute of output pushed a period at a time: what the analyser holds stays
    within the index and a period or two of output."""
    n = 48000 * 60
    sig = stress_signal(48000, 2, 60.0, 3)
    sa = StreamAnalyser(lambda i, k: sig[i : i + k], n, 8192)
    held = 0
    for i in range(0, n, 1024):
        sa.push(sig[i : i + 1024])
        held = max(held, len(sa.out) + len(sa.keys))
    a = sa.finish()
    assert a.frames_found == n and a.glitches == []
    assert held < 4 * 8192 + 2048
