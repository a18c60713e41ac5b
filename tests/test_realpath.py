"""The real path without the PCM layer: cyclic DMA -> I2S -> PortAudio -> a real server.

Each case runs in its own process, since PortAudio reads the JACK/PulseAudio environment
when it initialises.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from tests.i2s_path import compare_to_ring
from tests.servers import ROOT, jack_server, pulse_server, run_py, wait_for_recorder  # noqa: F401

RING = np.random.default_rng(1).integers(-32768, 32768, size=(4096, 2)).astype(np.int32)


def test_jack_loopback_is_sample_exact(jack_server):  # noqa: F811
    name, env, dev = jack_server.name, jack_server.env, str(jack_server.device)
    out = run_py(["-m", "tests.i2s_path", dev, "2", "--loopback", name], env)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["errors"] == [] and res["i2s_underruns"] == 0
    assert res["i2s_frames"] == res["frames"]  # the card is the clock: no drift
    assert res["ok"], res
    assert res["compared"] > 24000  # at least half a second compared
    # while the stream ran, a thread waiting for the GIL (the callback) waited <= 1 ms
    assert res["switch_interval_running"] == pytest.approx(0.001)
    assert res["switch_interval_before"] == pytest.approx(0.005)  # CPython's default
    assert res["switch_interval_stopped"] == res["switch_interval_before"]  # put back


def test_pulse_null_sink_monitor_is_bit_exact(pulse_server, tmp_path):  # noqa: F811
    sink, env = pulse_server
    raw = tmp_path / "rec.raw"
    rec = subprocess.Popen(["parecord", f"--device={sink}.monitor", "--format=s16le",
                            "--rate=48000", "--channels=2", "--raw", str(raw)], env=env)
    try:
        assert wait_for_recorder(env), "parecord did not connect"
        out = run_py(["-m", "tests.i2s_path", "pulse", "4"], env)
    finally:
        rec.terminate()
        rec.wait(10)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["errors"] == [] and res["i2s_underruns"] == 0
    # playback alone is paced: the serializer runs ahead of the card by the frames that
    # wait for the card's next callbacks, never more than the pacer's lead
    assert res["i2s_frames"] == res["frames"] + res["ready_frames"]
    assert 0 <= res["ready_frames"] <= res["lead_frames"]
    # what the codec's delay adds: PortAudio's output latency (read once at open, and
    # still what the open stream reports at the end) and the pacer's lead
    assert res["latency_frames"] == round(res["stream_latency"] * 48000) + res["lead_frames"]
    assert res["latency_frames"] > res["lead_frames"] > 0
    stream = np.fromfile(raw, dtype="<i2").reshape(-1, 2).astype(np.int32)
    check = compare_to_ring(stream, RING)
    assert check["ok"], check
    assert check["compared"] > 24000


def test_vanished_jack_server_ends_the_stream_without_hanging(jack_server):  # noqa: F811
    import sys
    import time

    name, env, dev = jack_server.name, jack_server.env, str(jack_server.device)
    proc = subprocess.Popen([sys.executable, "-m", "tests.i2s_path", dev, "30",
                             "--expect-loss"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    t0 = time.monotonic()
    subprocess.run(["pkill", "-KILL", "-f", f"jackd -n {name} "])
    out, _ = proc.communicate(timeout=20)
    assert time.monotonic() - t0 < 10
    res = json.loads(out.strip().splitlines()[-1])
    assert res["lost"] == "DeviceError", res
    # a lost device's stream is waited on for half a second, not the 3 s of a live one
    assert res["errors"] in ([], ["stream did not close within 0.5 s"]), res
    assert proc.returncode == 0
