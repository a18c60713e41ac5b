"""`dma-audio play` and `capture` end to end, through PortAudio to real sound servers.

PulseAudio's null sink: what `play` sends is recorded from the sink's monitor by an
independent recorder (parecord), and what an independent player (paplay) sends is what
`capture` must record, bit for bit. JACK's dummy backend: play and capture at 48 kHz with
period 1024 and 4 periods, with no xrun. Each run is its own process (PortAudio reads the
server environment when it initialises).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.io import wavfile

from soc.board import DMACS
from tests.servers import ROOT, jack_server, pulse_server, run_py, wait_for_recorder  # noqa: F401
from tests.test_pcm_trace import HWPTR, events_of


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(-32768, 32768, size=(int(48000 * seconds), 2)).astype(np.int16)
    data[data == 0] = 1  # no silent sample, so the first live frame is the first frame
    return data


def _find(stream: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The slice of ``stream`` that starts at its first live frame, as long as ``data``."""
    live = np.nonzero(np.any(stream != 0, axis=1))[0]
    assert live.size, "nothing recorded"
    k = int(live[0])
    return stream[k : k + len(data)]


def _last_json(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dmac", DMACS)
def test_play_to_pulse_is_bit_exact_to_the_last_frame(pulse_server, tmp_path, dmac):  # noqa: F811
    sink, env = pulse_server
    data = _noise(2.0, 11)
    src = tmp_path / "noise.wav"
    wavfile.write(src, 48000, data)
    raw = tmp_path / "rec.raw"
    rec = subprocess.Popen(["parecord", f"--device={sink}.monitor", "--format=s16le",
                            "--rate=48000", "--channels=2", "--raw", str(raw)], env=env)
    try:
        assert wait_for_recorder(env), "parecord did not connect"
        out = run_py(["-m", "demos.cli", "play", "-D", "pulse", str(src), "--json",
                      "--dmac", dmac], env)
    finally:
        rec.terminate()
        rec.wait(10)
    res = _last_json(out)["played"][0]
    assert res["frames"] == len(data) and res["xruns"] == 0
    stream = np.fromfile(raw, dtype="<i2").reshape(-1, 2)
    got = _find(stream, data)
    assert len(got) == len(data), f"recording ends {len(data) - len(got)} frames early"
    bad = np.nonzero(np.any(got != data, axis=1))[0]
    assert bad.size == 0, f"{bad.size} frames differ, first at {bad[0]}"


def test_capture_of_paplay_is_bit_exact(pulse_server, tmp_path):  # noqa: F811
    sink, env = pulse_server
    data = _noise(1.0, 12)
    src = tmp_path / "known.wav"
    # the server drops the first ~100 ms of a new playback stream before its monitor
    # carries it (any recorder misses them), so the known WAV opens with 0.5 s of silence
    wavfile.write(src, 48000, np.concatenate([np.zeros((24000, 2), np.int16), data]))
    out_wav = tmp_path / "cap.wav"
    cap = subprocess.Popen([sys.executable, "-m", "demos.cli", "capture", str(out_wav), "-d", "5",
                            "-D", "pulse", "--json"], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_recorder(env, 20), "capture did not connect"
        # the stream connects at the PCM's prepare, a moment before it records: wait until
        # the WAV holds a quarter second (under load the gap outlasted the known WAV's
        # leading silence, and the take missed it)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
                not out_wav.exists() or out_wav.stat().st_size < 48000):
            time.sleep(0.05)
        subprocess.run(["paplay", f"--device={sink}", str(src)], env=env, check=True,
                       timeout=30)
        stdout, stderr = cap.communicate(timeout=60)
    finally:
        if cap.poll() is None:
            cap.kill()
    assert cap.returncode == 0, stderr[-2000:]
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res["overruns"] == 0 and res["stopped_by"] == "duration"
    rate, rec = wavfile.read(out_wav)
    assert rate == 48000 and rec.dtype == np.int16
    got = _find(rec, data)
    assert len(got) == len(data), "capture ended before the known WAV did"
    assert np.array_equal(got, data)


@pytest.mark.parametrize("dmac", DMACS)
def test_jack_play_and_capture_without_xruns(jack_server, tmp_path, dmac):  # noqa: F811
    env, dev = jack_server.env, str(jack_server.device)
    src = tmp_path / "noise.wav"
    wavfile.write(src, 48000, _noise(2.0, 13))
    geometry = ["--rate", "48000", "--period-size", "1024", "--periods", "4", "--dmac", dmac]
    trace = tmp_path / "play.trace"
    played = _last_json(run_py(["-m", "demos.cli", "play", "-D", dev, *geometry, str(src),
                                "--json", "--trace", str(trace)], env))["played"][0]
    assert (played["period_size"], played["buffer_size"], played["xruns"]) == (1024, 4096, 0)
    # On the card's clock the trace holds as on the virtual one (test_pcm_trace, where it
    # is exact): each update starts where the last left hw_ptr, the writes add up to the
    # file and play's silence period, and the drain ran hw_ptr to their end, no xrun.
    events = events_of(trace)
    hw = [tuple(map(int, HWPTR.fullmatch(m).groups()[1:4])) for _, e, m in events
          if e == "hwptr"]
    assert all(b[1] % 4096 == a[0] for a, b in zip(hw, hw[1:], strict=False))
    end = -(-96000 // 1024) * 1024  # the last period filled out, as aplay pads it
    assert [m for _, e, m in events if e == "applptr"][-1].split(", ")[1] == f"curr={end}"
    pos, old, base = hw[-1]
    assert base + pos + (4096 if base + pos < old else 0) >= end
    assert not [e for _, e, _ in events if e == "xrun"]
    cap = _last_json(run_py(["-m", "demos.cli", "capture", str(tmp_path / "c.wav"), "-d", "2",
                             "-D", dev, *geometry, "--json"], env))
    assert cap["overruns"] == 0 and cap["frames"] == 96000
