"""Properties searched with hypothesis on the virtual clock, where every run is exact:
the lengths, geometries, formats and channel counts are drawn, not picked.

- playback: the tap is the input, padded with silence to the period boundary at or after
  its last frame (periods further while that leaves less silence than hw_params'
  ``fifo_size``), where the drain ends (SETUP); the interrupt that ends it comes when the
  DMA's LLI ends, and the DMA may be up to one burst into the next period by the time
  the position is read (a period that is no whole number of bursts), so hw_ptr is the
  boundary or less than a FIFO's depth past it. What the I2S FIFO holds when the drain's
  stop comes is flushed, as dwc-i2s flushes it, so the tap ends up to a FIFO's depth
  short of hw_ptr: every frame of the data is heard, and anything played past it is
  silence;
- capture from ``--source`` writes the source exactly;
- a scripted stall gives exactly the xruns and lost frames the geometry predicts.

Example counts suit the suite's time; ``HYPOTHESIS_PROFILE=deep`` (tests/conftest.py)
runs many more: ``HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest tests/test_properties.py``.
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import soundfile
from hypothesis import assume, given
from hypothesis import strategies as st

from demos.audiofile import Wav
from demos.cli import main
from demos.play import play_one
from demos.session import open_session
from pcm import alsa
from soc.board import DMACS, I2S_FIFO_DEPTH
from tests.test_stress import RATE, L, frame, written_at

HW_FORMATS = {"S16_LE": ("<i2", 15, 2), "S24_LE": ("<i4", 23, 4), "S32_LE": ("<i4", 31, 4)}
PERIOD_BYTES_MIN, PERIOD_BYTES_MAX, BUFFER_BYTES_MAX = 128, 65536, 524288


FIFO_FRAMES = I2S_FIFO_DEPTH


@st.composite
def geometries(draw, formats=tuple(HW_FORMATS), channels=(1, 2, 6, 8)):
    """(format, file channels, period size, periods) that the hardware's rules allow,
    with a ring whose free part is at least twice the I2S FIFO: in a smaller one the DMA,
    filling the FIFO, laps the writer before the first interrupt can report it (frames
    8 to 14 of a 16-frame S24 8-channel play in an 8-frame ring replayed frames 0 to 6),
    on this model as on silicon; the rules (period_bytes_min = maxburst * 8) allow it."""
    fmt = draw(st.sampled_from(formats))
    ch = draw(st.sampled_from(channels))
    fb = max(ch, 2) * HW_FORMATS[fmt][2]  # the I2S carries pairs: mono plays on two
    period = draw(st.integers(max(-(-PERIOD_BYTES_MIN // fb), 4),
                              min(PERIOD_BYTES_MAX // fb, 3000)))
    periods = draw(st.integers(2, 8))
    assume(period * periods * fb <= BUFFER_BYTES_MAX)
    assume((periods - 1) * period >= 2 * FIFO_FRAMES)
    return fmt, ch, period, periods


def _samples(fmt: str, n: int, ch: int, seed: int) -> np.ndarray:
    """Random full-scale samples, never 0, so that silence in the tap is never data."""
    dtype, bits, _ = HW_FORMATS[fmt]
    x = np.random.default_rng(seed).integers(1, 2**bits, (n, ch)).astype(np.int64)
    x *= np.where(np.random.default_rng(seed + 1).random((n, ch)) < 0.5, -1, 1)
    return x.astype(dtype)


def _play(fmt: str, data: np.ndarray, period: int, periods: int, dmac: str = "pl080"):
    """Play ``data`` through ``play_one`` on the virtual card; (tap, the hw_ptr after the
    last update, the state after the drain, FIFO depth, xruns)."""
    seen = {"hw_ptr": 0}
    real_open = alsa.open_pcm

    class DrainSpy:
        """The opened Pcm, as play sees it, noting the state its drain leaves."""

        def __init__(self, pcm) -> None:
            self._pcm = pcm

        def drain(self) -> None:
            self._pcm.drain()
            seen["state"] = self._pcm.state.name

        def __getattr__(self, name: str):
            return getattr(self._pcm, name)

    def spy_open(*a, **k):
        pcm = real_open(*a, **k)
        pcm.substream.tracepoints.append(
            lambda ev, ss, f: ev == "hwptr_updated" and seen.update(hw_ptr=f["hw_ptr"]))
        return DrainSpy(pcm)

    sess = open_session("virtual", "virtual", tap=True, dmac=dmac)
    args = types.SimpleNamespace(format=None, channels=None, rate=None, period_size=period,
                                 buffer_size=None, periods=periods, verbose=False,
                                 progress=False)
    alsa.open_pcm = spy_open
    try:
        res = play_one(sess, Wav(RATE, fmt, data, "drawn"), args, lambda s: None)
        tap = sess.endpoint.tapped()
        depth = sess.board.soc.hw["i2s0"].fifo_depth
    finally:
        alsa.open_pcm = real_open
        sess.close()
    return tap, seen, depth, res["xruns"]


@pytest.mark.parametrize("dmac", DMACS)
@given(g=geometries(), n_periods=st.floats(0, 4), seed=st.integers(0, 2**16))
def test_the_tap_is_the_input_then_silence_and_the_drain_ends_on_the_boundary(dmac, g,
                                                                              n_periods, seed):
    fmt, ch, period, periods = g
    n = int(n_periods * period * periods)  # 0 to 4 buffers, rarely a period multiple
    data = _samples(fmt, n, ch, seed)
    tap, seen, depth, xruns = _play(fmt, data, period, periods, dmac)
    expect = np.repeat(data, 2, axis=1) if ch == 1 else data
    bound = -(-n // period) * period  # the first period boundary at or after the last frame
    fifo_size = 8 * 4 * depth // (max(ch, 2) * HW_FORMATS[fmt][2])  # hw_params' fifo_size
    while n and bound - n < fifo_size:
        bound += period  # play's silence covers what the stop flushes
    assert xruns == 0
    assert seen.get("state") == "SETUP"
    hw_ptr = seen["hw_ptr"]
    assert 0 <= hw_ptr - bound < depth if n else hw_ptr == 0
    assert tap.shape[1] == expect.shape[1]
    assert hw_ptr - depth <= len(tap) <= hw_ptr  # the FIFO's frames flushed at the stop
    assert len(tap) >= n  # ... and they are silence
    padded = np.concatenate([expect.astype(np.int64),
                             np.zeros((max(len(tap) - n, 0), expect.shape[1]), np.int64)])
    bad = np.flatnonzero((tap != padded[: len(tap)]).any(axis=1))
    assert bad.size == 0, f"{bad.size} frames differ, the first at {bad[0]} of {n}"


@pytest.mark.parametrize("dmac", DMACS)
@given(g=geometries(channels=(1, 2, 4, 8)), frames=st.integers(1, 12000),
       seed=st.integers(0, 2**16))
def test_a_capture_of_a_source_writes_the_source(tmp_path_factory, dmac, g, frames, seed):
    fmt, ch, period, periods = g
    tmp = tmp_path_factory.mktemp("cap")
    src, out = tmp / "src.wav", tmp / "out.wav"
    data = _samples(fmt, frames + 100, ch, seed)
    subtype = {"S16_LE": "PCM_16", "S24_LE": "PCM_24", "S32_LE": "PCM_32"}[fmt]
    soundfile.write(src, data << 8 if fmt == "S24_LE" else data, RATE, subtype=subtype)
    rc = main(["capture", str(out), "-d", repr(frames / RATE), "-D", "virtual", "--clock",
               "virtual", "--source", str(src), "--period-size", str(period), "--periods",
               str(periods), "--no-progress", "--dmac", dmac])
    assert rc == 0
    got, rate = soundfile.read(out, dtype="int32", always_2d=True)
    want, _ = soundfile.read(src, dtype="int32", always_2d=True)
    assert rate == RATE and got.shape == (frames, ch)
    assert np.array_equal(got, want[:frames])


@pytest.mark.parametrize("dmac", DMACS)
@given(period=st.sampled_from([256, 512, 1024]), periods=st.integers(2, 6),
       at=st.floats(0.2, 1.2), over_ms=st.one_of(st.floats(-8, -2), st.floats(2, 200)))
def test_a_stall_xruns_exactly_as_the_geometry_predicts(tmp_path_factory, dmac, period,
                                                        periods, at, over_ms):
    """A stall that outlasts the queue (by 2 to 200 ms) xruns once and loses the FIFO's
    L frames; one that ends 2 to 8 ms before the ring runs dry does not xrun."""
    buffer = period * periods
    p_at = frame(at)
    dry = written_at(p_at, period, buffer) - L
    dur = (dry - p_at) / RATE + over_ms / 1000
    assume(dur > 0.001)
    tmp = tmp_path_factory.mktemp("stall")
    js = tmp / "s.json"
    assert main(["stress", "--duration", "2", "--json", str(js), "--period-size",
                 str(period), "--periods", str(periods), "--stall", f"{at}:{dur}",
                 "--dmac", dmac]) == 0
    s = json.loads(js.read_text())
    if over_ms > 0:
        assert (s["xruns"], s["frames_lost"], s["recoveries"]) == (1, L, 1)
        assert [(g["at_frame"], g["lost"]) for g in s["glitches"]] == [(dry, L)]
    else:
        assert (s["xruns"], s["frames_lost"], s["glitches"]) == (0, 0, [])
    assert s["glitches_unexplained"] == 0 and s["xruns_without_glitch"] == 0
