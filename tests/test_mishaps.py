"""Ordinary mishaps, as a user meets them: malformed files (searched with hypothesis),
outputs that cannot be written, signals at any moment, a capture killed outright, and
memory that must not grow with the file."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demos.cli import main
from tests.servers import ROOT

RATE = 48000
PLAY = ["play", "-D", "virtual", "--clock", "virtual", "--no-progress"]


def _valid_wav(frames: int = 300, ch: int = 2) -> bytes:
    data = np.arange(frames * ch, dtype="<i2").reshape(frames, ch)
    fmt = struct.pack("<HHIIHH", 1, ch, RATE, RATE * 2 * ch, 2 * ch, 16)
    raw = data.tobytes()
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack(
        "<I", len(raw)) + raw
    return b"RIFF" + struct.pack("<I", len(body)) + body


FIELDS = {  # offset, struct format of the canonical 44-byte header's fields
    "riff_size": (4, "<I"), "fmt_size": (16, "<I"), "codec": (20, "<H"),
    "channels": (22, "<H"), "rate": (24, "<I"), "byte_rate": (28, "<I"),
    "block_align": (32, "<H"), "bits": (34, "<H"), "data_size": (40, "<I"),
}

mutation = st.one_of(
    st.tuples(st.just("field"), st.sampled_from(sorted(FIELDS)),
              st.one_of(st.integers(0, 8), st.sampled_from([0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                                            65535, 3, 5, 24, 1, 12]),
                        st.integers(0, 2**32 - 1))),
    st.tuples(st.just("bytes"), st.integers(0, 60), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("chunk"), st.binary(min_size=4, max_size=4),
              st.integers(0, 2**32 - 1), st.binary(max_size=40)),
    st.tuples(st.just("cut"), st.integers(0, 1300), st.just(b"")),
)


def _mutate(raw: bytes, muts) -> bytes:
    b = bytearray(raw)
    for m in muts:
        if m[0] == "field":
            off, fmt = FIELDS[m[1]]
            size = struct.calcsize(fmt)
            b[off : off + size] = struct.pack(fmt, m[2] % (1 << (8 * size)))
        elif m[0] == "bytes":
            b[m[1] : m[1] + len(m[2])] = m[2]
        elif m[0] == "chunk":  # a chunk (its declared size may lie) before the data chunk
            at = b.find(b"data")
            at = at if at >= 0 else len(b)
            b[at:at] = m[1] + struct.pack("<I", m[2]) + m[3]
        else:
            del b[m[1] :]
    return bytes(b)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                   HealthCheck.too_slow])
@given(muts=st.lists(mutation, min_size=1, max_size=4))
def test_a_malformed_file_plays_or_is_one_line_never_a_traceback_or_a_hang(
        tmp_path_factory, capsys, muts):
    path = tmp_path_factory.mktemp("fuzz") / "f.wav"
    path.write_bytes(_mutate(_valid_wav(), muts))
    t = time.monotonic()
    rc = main([*PLAY, str(path)])
    took = time.monotonic() - t
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert rc in (0, 2), err
    if rc == 2:
        assert len([line for line in err if not line.startswith(("Sink:", "Playing",
                                                                  "plug:"))]) == 1, err
    assert took < 20, f"{took:.1f} s"


@pytest.mark.parametrize("argv", [
    ["capture", "/dev/full", "-d", "0.1"],
    ["capture", "/proc/x.wav", "-d", "0.1"],
    ["capture", "", "-d", "0.1"],
    ["play", "--tap", "/dev/full"],
    ["play", "--trace", "/dev/full"],
    ["stress", "--duration", "0.5", "--json", "/proc/x.json"],
    ["stress", "--duration", "0.5", "--plot", "{tmp}/p.txt"],
    ["stress", "--duration", "0.5", "--plot", "/proc/x.png"],
    ["play", "--tap", "{tmp}/in.wav", "{tmp}/in.wav"],
])
def test_an_output_that_cannot_be_written_is_refused_before_the_run(tmp_path, capsys, argv):
    soundfile.write(tmp_path / "in.wav", np.zeros((100, 2), np.int16), RATE)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    extra = [] if argv[0] == "stress" else ["-D", "virtual", "--clock", "virtual"]
    assert main([*argv, *extra, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert os.path.getsize(tmp_path / "in.wav") > 44  # an input is never overwritten


def test_a_disk_that_fills_during_a_capture_is_one_line_and_keeps_the_file(tmp_path):
    """A capture onto a filesystem with room for about half a second: one line, exit 1,
    and a WAV that reads back what fitted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("no tmpfs mount here")
    try:
        r = subprocess.run([sys.executable, "-m", "demos.cli", "capture", str(mnt / "c.wav"),
                            "-d", "3", "-D", "virtual", "--clock", "virtual",
                            "--no-progress"], capture_output=True, text=True, cwd=ROOT,
                           timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr and "No space left on device" in lines[-1]
        info = soundfile.info(mnt / "c.wav")
        assert 0 < info.frames < 3 * RATE
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import sys; from demos.entry import "
                             "main; sys.exit(main())", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmd=st.sampled_from(["play", "capture"]),
       sig=st.sampled_from([signal.SIGINT, signal.SIGTERM]),
       delay=st.floats(0.05, 0.8))
def test_a_signal_at_any_moment_is_one_line_and_its_exit_status(tmp_path_factory, cmd, sig,
                                                                delay):
    """From the first 50 ms (the program still loading: demos.entry's handlers) to the
    middle of the run: exit 128 + the signal, "dma-audio: interrupted", never a
    traceback; a capture that had made its file leaves it readable. (Before about 30 ms
    the interpreter itself and pip's script wrapper are still starting: no line of the
    program has run, and the interpreter reports the signal its own way.)"""
    tmp = tmp_path_factory.mktemp("sig")
    out = tmp / "cap.wav"
    args = (["play", "-D", "virtual", "--clock", "wall", "--no-progress"] if cmd == "play"
            else ["capture", str(out), "-d", "3", "-D", "virtual", "--clock", "wall",
                  "--no-progress"])
    p = _spawn(args)
    time.sleep(delay)
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert p.returncode == 128 + sig, (p.returncode, err)
    assert err.strip().splitlines()[-1] == "dma-audio: interrupted"
    if out.exists():
        soundfile.info(out)  # a valid header, whatever was captured


def test_a_capture_killed_outright_reads_back_to_its_last_header_rewrite(tmp_path):
    """SIGKILL runs no handler: the header rewritten every second is all there is."""
    src, out = tmp_path / "src.wav", tmp_path / "cap.wav"
    data = np.random.default_rng(5).integers(-30000, 30000, (5 * RATE, 2)).astype("<i2")
    soundfile.write(src, data, RATE, subtype="PCM_16")
    p = _spawn(["capture", str(out), "-d", "5", "--source", str(src), "--clock", "wall",
                "--no-progress"])
    deadline = time.monotonic() + 20
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.6)
    p.kill()
    p.communicate(timeout=10)
    got, rate = soundfile.read(out, dtype="int16", always_2d=True)
    assert rate == RATE and len(got) >= 2 * RATE  # at least the rewrites at 1 s and 2 s
    assert np.array_equal(got, data[: len(got)])


def _peak_rss_mb(args: list[str]) -> float:
    code = ("import resource, sys\nfrom demos.cli import main\nrc = main(sys.argv[1:])\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
            "sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return float(r.stdout.strip().splitlines()[-1])


def test_memory_does_not_grow_with_the_file(tmp_path):
    """Peak RSS of play (with --tap), of a capture of --source and of loopback, for 10 s
    and 120 s of 48 kHz stereo S16: the same within 20 MB (a whole 120 s file is 23 MB)."""
    peaks = {}
    for seconds in (10, 120):
        src = tmp_path / f"in{seconds}.wav"
        rng = np.random.default_rng(seconds)
        with soundfile.SoundFile(src, "w", RATE, 2, "PCM_16") as f:
            for _ in range(seconds):
                f.write(rng.integers(-30000, 30000, (RATE, 2)).astype("<i2"))
        peaks[("play", seconds)] = _peak_rss_mb(
            [*PLAY, str(src), "--tap", str(tmp_path / "tap.wav")])
        peaks[("capture", seconds)] = _peak_rss_mb(
            ["capture", str(tmp_path / "cap.wav"), "-d", str(seconds), "--source", str(src),
             "--clock", "virtual", "--no-progress"])
        peaks[("loopback", seconds)] = _peak_rss_mb(
            ["loopback", "--seconds", str(seconds), "--clock", "virtual", "--no-progress"])
    for cmd in ("play", "capture", "loopback"):
        assert peaks[(cmd, 120)] - peaks[(cmd, 10)] < 20, peaks


@pytest.mark.parametrize("argv, says", [
    (["capture", "x.wav", "-d", "inf"], "must be finite"),
    (["loopback", "--seconds", "nan"], "must be finite"),
    (["stress", "--duration", "inf"], "must be finite"),
    (["stress", "--jitter", "nan"], "must be finite"),
    (["stress", "--lose-irqs", "1.5"], "between 0 and 1"),
    (["stress", "--irq-latency", "-1"], "must not be negative"),
    (["loopback", "--seconds", "1e-9"], "shorter than the 10 ms"),
    (["stress", "--stall", "1:nan"], "both finite"),
    (["stress", "--jitter", "1e9"], "at most 10000 ms"),
    (["stress", "-r", "99999999999999999999"], "1000 to 768000 Hz"),
    (["stress", "-c", "100000"], "1 to 64 channels"),
    (["play", "-r", "10"], "1000 to 768000 Hz"),
    (["capture", "x.wav", "-d", "1", "-c", "0"], "1 to 64 channels"),
    (["stress", "--dma-starve", "inf:0.1"], "both finite"),
])
def test_numbers_are_checked_as_numbers(capsys, argv, says):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


def test_random_stalls_place_what_fits_and_say_so(tmp_path, capsys):
    js = tmp_path / "s.json"
    assert main(["stress", "--duration", "1", "--random-stalls", "50", "--json",
                 str(js)]) == 0
    placed = len(json.loads(js.read_text())["stalls"])
    assert 0 < placed < 50
    assert f"--random-stalls 50: {placed} fit in 1 s" in capsys.readouterr().err
    assert main(["stress", "--duration", "1", "--random-stalls", str(10**18), "--json",
                 str(js)]) == 0  # placed as fast: the search stops at what can fit
    assert len(json.loads(js.read_text())["stalls"]) == placed


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stress_stopped_by_a_signal_saves_its_report_tap_and_plot(tmp_path, sig):
    js, tap, plot = tmp_path / "s.json", tmp_path / "tap.wav", tmp_path / "p.png"
    p = _spawn(["stress", "--clock", "wall", "--duration", "5", "--json", str(js), "--tap",
                str(tap), "--plot", str(plot)])
    time.sleep(2.0)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig and "Traceback" not in err, err
    doc = json.loads(js.read_text())
    assert doc["ended_by"] == ("SIGTERM" if sig == signal.SIGTERM else "interrupt")
    assert soundfile.info(tap).frames > 0 and plot.stat().st_size > 0


def test_a_long_stress_stopped_by_a_signal_reports_on_what_it_wrote(tmp_path):
    """A run of 10^6 s on the virtual clock, stopped after a few seconds: the report is
    about the input written (it analysed the whole input, for ever), and what was never
    heard is at most the ring the stop left queued and the period the hardware step the
    signal cut had in flight."""
    js = tmp_path / "s.json"
    p = _spawn(["stress", "-D", "virtual", "--clock", "virtual", "--duration", "1e6",
                "--json", str(js)])
    time.sleep(3.0)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143 and "Traceback" not in err, err
    doc = json.loads(js.read_text())
    assert doc["ended_by"] == "SIGTERM" and doc["frames_written"] > doc["buffer_size"]
    assert 0 <= doc["frames_lost"] <= doc["buffer_size"] + doc["period_size"]
    assert doc["frames_played"] == doc["frames_written"] - doc["frames_lost"]


def test_stress_on_an_empty_file_or_a_pipe_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 2), np.int16), RATE)
    assert main(["stress", str(empty)]) == 2
    assert capsys.readouterr().err.strip() == f"{empty}: no frames to play"
    r = subprocess.run([sys.executable, "-m", "demos.cli", "stress", "-"],
                       input=(tmp_path / "empty.wav").read_bytes(), capture_output=True,
                       cwd=ROOT, timeout=60)
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2 and len(err) == 1 and "a pipe cannot be" in err[0], err


def test_a_signal_within_a_deferred_block_comes_as_the_block_ends():
    """What stress takes from the tap reaches its spool and file before a signal ends
    the run."""
    from demos.interrupt import Terminated, raise_interrupt, signals_deferred

    old = signal.signal(signal.SIGTERM, raise_interrupt)
    done: list[str] = []
    try:
        with pytest.raises(Terminated):
            with signals_deferred():
                signal.raise_signal(signal.SIGTERM)
                done.append("the rest of the block ran")
        assert done == ["the rest of the block ran"]
    finally:
        signal.signal(signal.SIGTERM, old)
