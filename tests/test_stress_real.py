"""Real time on JACK's dummy backend: stress with a looped-back capture, and a sound server
that vanishes under play and capture.

The loop is made the way docs/testing.md says: once the stream's ports exist, the PortAudio
client's outputs are connected to its own inputs (one JACK period of delay, bit-exact in
float32). ``stress --duplex`` on a sound server opens with a second of silence, time for
that. Every glitch a sample-exact comparison finds in the captured stream must be an xrun
the stack reported and every reported xrun a glitch; frames are lost only in xrun windows
(at most the I2S FIFO's 15 frames each).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
from scipy.io import wavfile

from soc.board import I2S_FIFO_DEPTH
from tests.servers import ROOT, jack_server, run_py  # noqa: F401

FIFO_FRAMES = I2S_FIFO_DEPTH - 1  # what the FIFO holds past the word on the wire


def test_stress_on_jack_every_glitch_is_a_reported_xrun(jack_server, tmp_path):  # noqa: F811
    env, dev = jack_server.env, str(jack_server.device)
    js = tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "demos.cli", "stress", "-D", dev, "--duplex", "--duration", "6",
         "--period-size", "1024", "--periods", "4", "--stall", "1.5:0.3", "--stall", "4:0.25",
         "--json", str(js)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jack_server.loop_back(alive=lambda: proc.poll() is None)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    s = json.loads(js.read_text())
    assert s["ended_by"] == "end of data"
    assert s["xruns"] >= 2  # the two stalls outlast the 85 ms ring
    assert len(s["glitches"]) >= 2
    assert s["glitches_unexplained"] == 0 and s["xruns_without_glitch"] == 0
    # each stall outlasts what was queued when it began (3 to 4 periods, 64 to 85 ms):
    # the glitch starts then, plus the loop (a JACK period) and the card's latency
    starts = sorted(g["at_s"] for g in s["glitches"])
    for at, g in zip((1.5, 4.0), starts, strict=True):
        assert at + 0.060 <= g <= at + 0.085 + 0.030, starts
    assert s["frames_written"] == 6 * 48000
    assert s["frames_played"] == s["frames_written"] - s["frames_lost"]
    assert s["frames_lost"] <= FIFO_FRAMES * (s["xruns"] + s["fifo_underruns"])


def _kill_jack_after(name: str, seconds: float) -> None:
    time.sleep(seconds)
    subprocess.run(["pkill", "-KILL", "-f", f"jackd -n {name} "], capture_output=True)


def test_vanished_server_ends_play_with_one_line(jack_server, tmp_path):  # noqa: F811
    name, env, dev = jack_server.name, jack_server.env, str(jack_server.device)
    src = tmp_path / "long.wav"
    wavfile.write(src, 48000, np.zeros((48000 * 20, 2), np.int16) + 100)
    proc = subprocess.Popen([sys.executable, "-m", "demos.cli", "play", "-D", dev, str(src),
                             "--no-progress"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _kill_jack_after(name, 2.5)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("dma-audio: sound device lost:")
    # snd_card_disconnect: the writer woken by it gets EBADFD, a call after it ENODEV
    assert re.search(r"; the card is disconnected \((EBADFD: .*DISCONNECTED|ENODEV: .*"
                     r"is disconnected)\)$", last), last


def test_vanished_server_leaves_a_valid_capture(jack_server, tmp_path):  # noqa: F811
    name, env, dev = jack_server.name, jack_server.env, str(jack_server.device)
    out = tmp_path / "cap.wav"
    proc = subprocess.Popen([sys.executable, "-m", "demos.cli", "capture", str(out), "-d", "20",
                             "-D", dev, "--no-progress"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _kill_jack_after(name, 2.5)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err and "sound device lost" in err
    rate, frames = wavfile.read(out)
    assert rate == 48000 and frames.shape[1] == 2
    assert 48000 <= len(frames) <= 48000 * 3  # what came before the server vanished
    said = [line for line in err.splitlines() if line.startswith("wrote ")]
    assert said and said[0].startswith(f"wrote {len(frames)} frames")
