"""`dma-audio play --tap`, capture, loopback on the virtual clock, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from scipy.io import wavfile

from demos.cli import main
from demos.plug import from_word32, route, to_word32

RATE = 48000


def _wav(path, dtype: str, channels: int, n: int = 7000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "u1":
        data = rng.integers(0, 256, (n, channels)).astype(np.uint8)
    elif dtype == "f4":
        data = rng.uniform(-1, 1, (n, channels)).astype(np.float32)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, (n, channels), endpoint=True).astype(dtype)
    wavfile.write(path, RATE, data)
    return data


def _write_24bit(path, channels: int, n: int = 7000) -> np.ndarray:
    """A 24-bit PCM WAV (scipy writes none): header by hand, samples packed in 3 bytes."""
    import struct

    rng = np.random.default_rng(3)
    data = rng.integers(-(2**23), 2**23, (n, channels)).astype(np.int32)
    raw = data.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, RATE, RATE * 3 * channels, 3 * channels, 24)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack(
        "<I", len(raw)) + raw
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return data


def _play(tmp_path, src, *extra) -> tuple[dict, np.ndarray]:
    tap = tmp_path / "tap.wav"
    args = ["play", "-D", "virtual", "--clock", "virtual", str(src), "--tap", str(tap),
            "--json", "--no-progress", *extra]
    assert main(args) == 0
    rate, frames = wavfile.read(tap)
    assert rate == RATE
    return args, frames.reshape(len(frames), soundfile.info(str(tap)).channels)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("dtype", ["<i2", "<i4", "24", "u1", "f4"])
def test_tap_equals_the_input(tmp_path, dtype, channels, capsys):
    src = tmp_path / "in.wav"
    if dtype == "24":
        data = _write_24bit(src, channels)
        expect = data << 8  # the tap of S24_LE is written left-justified in 32 bits
    else:
        data = _wav(src, dtype, channels)
        expect = data
        if dtype == "u1":  # plug: U8 -> S16_LE, (x - 128) << 8
            expect = from_word32(to_word32(data, "U8"), "S16_LE")
        elif dtype == "f4":  # plug: FLOAT_LE -> S32_LE, clip(round(x * 2**31))
            expect = from_word32(to_word32(data, "FLOAT_LE"), "S32_LE")
    _, tap = _play(tmp_path, src)
    n = len(data)
    if channels == 1:  # the I2S carries pairs: the plug copies mono to both channels
        expect = np.repeat(expect, 2, axis=1)
    assert tap.shape[1] == max(channels, 2)
    assert np.array_equal(tap[:n], expect), "the tap differs from the input"
    assert not tap[n:].any()  # after the data: silence, never the stale ring
    out = capsys.readouterr()
    played = json.loads(out.out.strip().splitlines()[-1])["played"][0]
    assert played["frames"] == n and played["xruns"] == 0
    if dtype in ("u1", "f4"):
        assert "plug: format" in out.err
    assert ("channels 1 -> 2" in out.err) == (channels == 1)


@pytest.mark.parametrize("fmt", ["S24_LE", "S32_LE"])
def test_loopback_runs_in_the_asked_format(fmt, capsys):
    """The test signal is noise at half the format's scale, so a path that dropped the
    low bits or the top ones would not come back bit-exact."""
    assert main(["loopback", "--clock", "virtual", "-f", fmt, "--seconds", "0.25",
                 "--json", "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (res["format"], res["bit_exact"], res["latency_frames"]) == (fmt, True, 64)


def test_tap_of_files_that_differ_is_one_wav_per_stream(tmp_path, capsys):
    """A WAV has one format: files that play with different channels (or rates, or
    formats) leave one tap each, ``OUT-1.wav``, ``OUT-2.wav``, each exactly its file."""
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    data_a, data_b = _wav(a, "<i2", 2, n=3000, seed=1), _wav(b, "<i2", 4, n=2000, seed=2)
    tap = tmp_path / "out.wav"
    assert main(["play", "-D", "virtual", "--clock", "virtual", str(a), str(b), "--tap",
                 str(tap), "--no-progress"]) == 0
    assert f"one WAV each: {tmp_path}/out-1.wav, {tmp_path}/out-2.wav" in capsys.readouterr().err
    assert not tap.exists()
    for name, data in (("out-1.wav", data_a), ("out-2.wav", data_b)):
        rate, frames = wavfile.read(tmp_path / name)
        frames = frames.reshape(len(frames), -1)
        assert rate == RATE and frames.shape[1] == data.shape[1]
        assert np.array_equal(frames[: len(data)], data) and not frames[len(data) :].any()


def test_an_empty_wav_plays_nothing(tmp_path, capsys):
    src = tmp_path / "empty.wav"
    wavfile.write(src, RATE, np.zeros((0, 2), np.int16))
    args, tap = _play(tmp_path, src)
    played = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["played"][0]
    assert played["frames"] == 0 and played["xruns"] == 0
    assert tap.shape[1] == 2 and not tap.any()


def test_plug_resamples_when_the_rate_is_forced(tmp_path, capsys):
    src = tmp_path / "in.wav"
    _wav(src, "<i2", 2, n=4410)
    wavfile.write(src, 44100, wavfile.read(src)[1])
    _, tap = _play(tmp_path, src, "-r", "48000")
    assert "rate 44100 -> 48000" in capsys.readouterr().err
    assert abs(int(np.nonzero(np.any(tap != 0, axis=1))[0][-1]) + 1 - 4800) <= 2


def test_plug_takes_the_hardwares_nearest_rate_and_says_what_it_could_not(tmp_path, capsys):
    """The virtual card takes the standard rates only: ``-r 12345`` plays at 11025 Hz, the
    rate ``snd_pcm_hw_params_set_rate_near`` picks, resampled to it; a format the hardware
    has not (S8) is said, and the file's own format is kept."""
    src = tmp_path / "in.wav"
    _wav(src, "<i2", 2, n=4800)
    tap = tmp_path / "tap.wav"
    play = ["play", "-D", "virtual", "--clock", "virtual", str(src), "--tap", str(tap),
            "--json", "--no-progress"]
    assert main([*play, "-r", "12345"]) == 0
    out = capsys.readouterr()
    assert "plug: 12345 Hz asked, the hardware's nearest rate is 11025 Hz; " \
           "rate 48000 -> 11025 Hz" in out.err
    played = json.loads(out.out.strip().splitlines()[-1])["played"][0]
    assert (played["rate"], played["frames"]) == (11025, 1103)  # ceil(4800 * 147 / 640)
    assert wavfile.read(tap)[0] == 11025
    assert main([*play, "-f", "S8"]) == 0
    out = capsys.readouterr()
    assert "plug: S8 asked, the hardware has no S8\n" in out.err
    assert json.loads(out.out.strip().splitlines()[-1])["played"][0]["format"] == "S16_LE"


def test_capture_of_a_source_that_differs_from_the_capture(tmp_path, capsys):
    """The virtual card hears the file in the capture's setup: by default the file's own
    (32-bit, 4 channels, 96 kHz), and what is asked otherwise, through the plug."""
    src = tmp_path / "src.wav"
    rng = np.random.default_rng(4)
    data = rng.integers(-(2**31), 2**31, (9600, 4)).astype(np.int32)
    wavfile.write(src, 96000, data)
    out = tmp_path / "cap.wav"
    cap = ["capture", str(out), "-d", "0.05", "-D", "virtual", "--clock", "virtual",
           "--source", str(src), "--no-progress"]
    assert main(cap) == 0
    rate, got = wavfile.read(out)
    assert rate == 96000 and np.array_equal(got, data[:4800])
    assert main([*cap, "-c", "2", "-f", "S16_LE"]) == 0
    assert "source: format S32_LE -> S16_LE; channels 4 -> 2" in capsys.readouterr().err
    rate, got = wavfile.read(out)
    assert rate == 96000 and np.array_equal(got, (data[:4800, :2] >> 16).astype(np.int16))


def test_the_plug_routes_channels_as_alsa_libs_default_table():
    """snd_pcm_plug_change_channels: with a mono side, a mono source goes to every channel
    and a mono destination is the mean of all (rounded to the nearest word); otherwise
    channel i to channel i, the rest dropped or silent."""
    w = np.array([[1, 2, 4], [-3, 7, 100], [5, 0, 0]], np.int64)
    assert np.array_equal(route(w, 1), [[2], [35], [2]])  # 7/3 -> 2, 104/3 -> 35, 5/3 -> 2
    assert np.array_equal(route(w[:, :2], 1), [[2], [2], [2]])  # 1.5 and 2.5 to even: 2, 2
    assert np.array_equal(route(w[:, :1], 3), np.repeat(w[:, :1], 3, axis=1))
    assert np.array_equal(route(w, 2), w[:, :2])
    assert np.array_equal(route(w[:, :2], 4), np.hstack([w[:, :2], np.zeros((3, 2))]))


def test_play_of_an_odd_channel_count_is_refused_as_dw_i2s_refuses_it(tmp_path, capsys):
    """dw_i2s_hw_params takes 2, 4, 6 or 8 channels: a 3-channel file is refused with one
    line naming the count (exit 2), and plays with ``-c 4``, the plug adding a silent
    fourth channel. ``-c 1`` asks for what the I2S cannot carry: the plug says so."""
    src = tmp_path / "in.wav"
    data = _wav(src, "<i2", 3, n=3000, seed=6)
    assert main(["play", "-D", "virtual", "--clock", "virtual", str(src),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "3 channels not supported" in err[-1] and "Traceback" not in "".join(err)
    _, tap = _play(tmp_path, src, "-c", "4")
    assert "plug: channels 3 -> 4" in capsys.readouterr().err
    assert np.array_equal(tap[: len(data), :3], data) and not tap[:, 3].any()
    st = tmp_path / "st.wav"
    data = _wav(st, "<i2", 2, n=3000, seed=7)
    _, tap = _play(tmp_path, st, "-c", "1")
    assert "1 channels asked, the hardware takes 2 to 8" in capsys.readouterr().err
    assert np.array_equal(tap[: len(data)], data)


def _capture(tmp_path, src, *extra) -> tuple[int, np.ndarray]:
    out = tmp_path / "cap.wav"
    assert main(["capture", str(out), "-d", "0.1", "-D", "virtual", "--clock", "virtual",
                 "--source", str(src), "--no-progress", *extra]) == 0
    return wavfile.read(out)


def test_capture_through_the_plug_writes_formats_the_hardware_has_not(tmp_path, capsys):
    """A U8 source is heard on the bus as S16_LE and captured back to U8, exactly; a
    FLOAT_LE one as S32_LE, back to within one step of the 32-bit word."""
    src = tmp_path / "u8.wav"
    data = _wav(src, "u1", 1, n=4800, seed=7)
    rate, got = _capture(tmp_path, src)
    err = capsys.readouterr().err
    assert "source: format U8 -> S16_LE" in err and "plug: format S16_LE -> U8" in err
    assert "Capturing 0.1 s into" in err and ": S16_LE, 48000 Hz, 2 ch," in err
    assert rate == RATE and got.dtype == np.uint8 and np.array_equal(got, data[:, 0])
    src = tmp_path / "f32.wav"
    data = _wav(src, "f4", 2, n=4800, seed=8)
    rate, got = _capture(tmp_path, src)
    assert "plug: format S32_LE -> FLOAT_LE" in capsys.readouterr().err
    assert rate == RATE and got.dtype == np.float32 and got.shape == data.shape
    assert np.abs(got.astype(np.float64) - data).max() <= 2**-31


def test_capture_through_the_plug_routes_channels_and_resamples(tmp_path, capsys):
    """``-c 1`` of a stereo source: the bus carries the file's two channels, and the
    plug writes their mean. ``-c 9`` of a mono one: the hardware's 8 channels each hear
    it, and the plug adds a silent ninth. ``-r 12345``, a rate the hardware has not: it
    runs at 11025 Hz, the nearest, and the take is resampled to 12345 Hz: 0.1 s is 1234
    frames, as in a file captured at 12345 Hz, and a 440 Hz tone comes back."""
    src = tmp_path / "st.wav"
    data = _wav(src, "<i2", 2, n=4800, seed=9)
    rate, got = _capture(tmp_path, src, "-c", "1")
    err = capsys.readouterr().err
    assert "source:" not in err and "plug: channels 2 -> 1" in err
    expect = (data.astype(np.int32).sum(axis=1) >> 1).astype(np.int16)
    assert rate == RATE and np.array_equal(got, expect)
    data = _wav(src, "<i2", 1, n=4800, seed=10)
    rate, got = _capture(tmp_path, src, "-c", "9")
    err = capsys.readouterr().err
    assert "source: channels 1 -> 8" in err and "plug: channels 8 -> 9" in err
    assert got.shape == (4800, 9) and not got[:, 8].any()
    assert np.array_equal(got[:, :8], np.repeat(data, 8, axis=1))
    t = np.arange(12345) / 12345
    tone = np.rint(np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1) * 16000)
    wavfile.write(src, 12345, tone.astype(np.int16))
    rate, got = _capture(tmp_path, src)
    err = capsys.readouterr().err
    assert "source: rate 12345 -> 11025 Hz" in err and "plug: rate 11025 -> 12345 Hz" in err
    assert ": S16_LE, 11025 Hz, 2 ch," in err
    assert rate == 12345 and got.shape == (1234, 2)  # round(0.1 * 12345): the file's frames
    inner = slice(100, 1100)  # the resampler's filter edges left out
    assert np.abs(got[inner].astype(int) - tone[inner]).max() < 160  # 1% of the tone


def test_a_source_is_for_the_virtual_card(tmp_path, capsys, monkeypatch):
    """--source without -D captures from the virtual card; with a sound device it is
    refused (a device hears its own input), not silently ignored."""
    import demos.session

    real = demos.session.resolve_device  # as on a machine whose default input is a device
    monkeypatch.setattr(demos.session, "resolve_device", lambda arg, capture=False: (
        real(arg, capture) if arg == "virtual" else (0, "sound device 'x', as asked")))
    src = tmp_path / "src.wav"
    data = _wav(src, "<i2", 2, n=4800, seed=5)
    out = tmp_path / "cap.wav"
    cap = ["capture", str(out), "-d", "0.05", "--clock", "virtual", "--source", str(src),
           "--no-progress"]
    assert main(cap) == 0
    assert np.array_equal(wavfile.read(out)[1], data[:2400])
    assert "Source: the virtual card" in capsys.readouterr().err
    out.unlink()
    line = _bad(["capture", str(out), "-d", "0.05", "-D", "0", "--source", str(src),
                 "--no-progress"], capsys)
    assert line.endswith("--source is what the virtual card hears; a sound device captures "
                         "its own input (use -D virtual, or leave out --source)")
    assert not out.exists()


def test_capture_of_the_virtual_source_and_loopback(tmp_path, capsys):
    src = tmp_path / "src.wav"
    data = _wav(src, "<i2", 2, n=24000, seed=9)
    out = tmp_path / "cap.wav"
    assert main(["capture", str(out), "-d", "0.25", "-D", "virtual", "--clock", "virtual",
                 "--source", str(src), "--json", "--no-progress"]) == 0
    rate, got = wavfile.read(out)
    assert rate == RATE and np.array_equal(got, data[:12000])
    assert main(["loopback", "--clock", "virtual", "--json", "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["bit_exact"] and res["latency_frames"] == 64  # the virtual card's loop delay


def _bad(args, capsys) -> str:
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(lines)
    # the refusal is one line; before it, at most the line saying which sink was chosen
    assert len(lines) == 1 or (len(lines) == 2 and lines[0].startswith(("Sink:", "Source:")))
    return lines[-1]


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    play = ["play", "-D", "virtual", "--clock", "virtual", "--no-progress"]
    assert "no such file" in _bad([*play, str(tmp_path / "missing.wav")], capsys)
    assert "is a directory" in _bad([*play, str(tmp_path)], capsys)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"hello, not a wav at all")
    assert f"{junk}: Format not recognised" in _bad([*play, str(junk)], capsys)
    good = tmp_path / "good.wav"
    _wav(good, "<i2", 2, n=1000)
    for offset, what in ((22, "channel count is zero"), (24, "sf_info struct incomplete")):
        z = bytearray(good.read_bytes())
        z[offset : offset + (2 if offset == 22 else 4)] = bytes(2 if offset == 22 else 4)
        zp = tmp_path / f"zero{offset}.wav"
        zp.write_bytes(bytes(z))
        err = _bad([*play, str(zp)], capsys)
        assert err.startswith(f"{zp}: ") and what in err.lower()
    slow = tmp_path / "slow.wav"  # a header rate of 1 Hz: nothing the plug can serve
    soundfile.write(slow, np.zeros((10, 2), np.int16), 1)
    assert "a rate of 1 Hz (1000 to 768000 Hz play)" in _bad([*play, str(slow)], capsys)
    err = _bad([*play, str(good), "--period-size", "100000"], capsys)
    assert "PERIOD_SIZE" in err and "EINVAL" in err
    assert "PERIODS" in _bad([*play, str(good), "--periods", "1"], capsys)
    assert "unknown sample format" in _bad([*play, "-f", "S20_LE"], capsys)
    assert "--clock card needs a sound device" in _bad(
        ["play", "-D", "virtual", "--clock", "card"], capsys)
    assert "no sound device" in _bad(["play", "-D", "no-such-card-xyz"], capsys)
    assert "must be positive" in _bad(["capture", str(tmp_path / "o.wav"), "-d", "0"], capsys)
    s8 = tmp_path / "s8.wav"  # a WAV has no signed 8-bit samples; arecord refuses them too
    assert _bad(["capture", str(s8), "-D", "virtual", "--clock", "virtual", "-f", "S8",
                 "-d", "0.1", "--no-progress"], capsys) == (
        "-f S8: a WAV file cannot hold it (it holds U8, S16_LE, S24_LE, S32_LE or FLOAT_LE)")
    assert not s8.exists()
    cap = tmp_path / "cap.wav"  # as arecord: refused parameters make no file
    err = _bad(["capture", str(cap), "-D", "virtual", "--clock", "virtual",
                "--period-size", "100000", "-d", "0.1", "--no-progress"], capsys)
    assert "EINVAL" in err and "PERIOD_SIZE" in err and not cap.exists()


@pytest.mark.parametrize(("sig", "plug"), [("SIGTERM", False), ("SIGINT", False),
                                         ("SIGTERM", True)])
def test_interrupted_capture_leaves_a_valid_wav(tmp_path, sig, plug):
    """Through the plug too: the take read so far is converted (the hardware's S16_LE,
    8 channels at 11025 Hz to U8, 9 channels at 12345 Hz)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.servers import ROOT

    out = tmp_path / "cap.wav"
    extra = ["-f", "U8", "-c", "9", "-r", "12345"] if plug else []
    proc = subprocess.Popen([sys.executable, "-m", "demos.cli", "capture", str(out), "-d", "60",
                             "-D", "virtual", "--no-progress", *extra], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    said = []
    while not (said and said[-1].startswith("Capturing")):  # the capture has begun
        line = proc.stderr.readline()
        assert line, "capture ended before it began"
        said.append(line)
    time.sleep(1.5)  # the wall clock runs the virtual card in real time
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=20)
    err = "".join(said) + err
    assert proc.returncode == 128 + getattr(signal, sig), err  # 143 or 130
    rate, frames = wavfile.read(out)
    want_rate = 12345 if plug else RATE
    assert rate == want_rate and frames.shape[1] == (9 if plug else 2)
    assert frames.dtype == (np.uint8 if plug else np.int16)
    assert want_rate // 2 <= len(frames) <= want_rate * 3  # every frame read before it
    said = [line for line in err.splitlines() if line.startswith("wrote ")][0]
    assert said.startswith(f"wrote {len(frames)} frames")
    assert ("plug: format S16_LE -> U8; channels 8 -> 9; rate 11025 -> 12345 Hz "
            "(resample_poly)\n" in err) == plug


def test_play_stopped_by_sigterm_keeps_its_tap(tmp_path):
    """``play --tap`` on the wall clock, stopped by SIGTERM: exit 143, and the tap holds
    exactly the frames the card was sent until then: the line's idle zeros before the
    stream started, the file's first frames, and idle zeros again once it stopped."""
    import signal
    import subprocess
    import sys
    import time

    from tests.servers import ROOT

    src = tmp_path / "in.wav"
    data = _wav(src, "<i2", 2, n=48000 * 10, seed=5)
    data[data == 0] = 1  # no silent frame: the tap's frames are all the file's
    wavfile.write(src, RATE, data)
    tap = tmp_path / "tap.wav"
    proc = subprocess.Popen([sys.executable, "-m", "demos.cli", "play", str(src), "-D",
                             "virtual", "--tap", str(tap), "--no-progress"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    rate, frames = wavfile.read(tap)
    live = np.flatnonzero(frames.any(axis=1))
    start, end = int(live[0]), int(live[-1]) + 1
    played = frames[start:end]
    assert rate == RATE and not frames[:start].any() and not frames[end:].any()
    assert 4800 <= len(played) < len(data)
    assert np.array_equal(played, data[: len(played)])


@pytest.mark.parametrize("fmt, dtype", [("S16_LE", np.int16), ("S32_LE", np.int32)])
def test_a_capture_stopped_before_its_first_frame_is_a_wav_of_its_format(
        tmp_path, monkeypatch, fmt, dtype):
    import types

    import demos.capture as capture
    from demos.session import open_session

    class StopAtOnce(_SilentProgress):  # the progress display's seam: Ctrl-C before
        def __enter__(self):  # the first read
            raise KeyboardInterrupt

    monkeypatch.setattr(capture, "StreamProgress", StopAtOnce)
    out = tmp_path / "cap.wav"
    args = types.SimpleNamespace(format=fmt, channels=6, rate=None, period_size=256,
                                 buffer_size=None, periods=4, verbose=False, progress=False)
    sess = open_session("virtual", "virtual", capture=True)
    try:
        with pytest.raises(KeyboardInterrupt):
            capture.capture(sess, str(out), 1.0, args, lambda s: None)
    finally:
        sess.close()
    rate, frames = wavfile.read(out)
    assert (rate, frames.shape, frames.dtype) == (RATE, (0, 6), dtype)


class _SilentProgress:
    """A stand-in for play's progress display (demos.progress.StreamProgress), the seam
    these tests watch the writes through."""

    def __init__(self, *a, **k) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, *a, **k) -> None:
        pass


def test_each_underrun_counts_once(monkeypatch):
    """One 50 ms stall of the writer on a 21 ms buffer, on the virtual clock: exactly one
    underrun, seen by the writer as EPIPE and counted once in the result."""
    import types

    import demos.play as play
    from demos.audiofile import Wav
    from demos.session import open_session

    sess = open_session("virtual", "virtual")

    class StallOnce(_SilentProgress):  # the 40th write is followed by a stall
        def __init__(self, *a, **k) -> None:
            self.writes = 0

        def update(self, *a, **k) -> None:
            self.writes += 1
            if self.writes == 40:
                sess.clock.run_for(50_000_000)

    monkeypatch.setattr(play, "StreamProgress", StallOnce)
    said: list[str] = []
    data = np.full((48000 // 2, 2), 1000, "<i2")
    args = types.SimpleNamespace(format=None, channels=None, rate=None, period_size=256,
                                 buffer_size=None, periods=4, verbose=False, progress=False)
    try:
        res = play.play_one(sess, Wav(48000, "S16_LE", data, "late"), args, said.append)
    finally:
        sess.close()
    assert [m for m in said if m.startswith("underrun!!!")] == ["underrun!!! (xrun 1)"]
    assert res["xruns"] == 1


def test_play_starts_the_dma_once_the_ring_is_full_as_aplay_does(monkeypatch):
    """aplay's sw_params: start_threshold = stop_threshold = buffer_size, avail_min = a
    period. The first three period writes leave the PCM PREPARED, the fourth starts it."""
    import types

    import demos.play as play
    from demos.audiofile import Wav
    from demos.session import open_session

    sess = open_session("virtual", "virtual")
    opened = []
    open_pcm = play.alsa.open_pcm
    monkeypatch.setattr(play.alsa, "open_pcm", lambda *a: opened.append(open_pcm(*a)) or opened[0])
    seen: dict = {"states": []}

    class Record(_SilentProgress):  # made once the PCM is prepared
        def __init__(self, *a, **k) -> None:
            seen["sw"] = opened[0].sw_params_current()

        def update(self, *a, final: bool = False, **k) -> None:
            if not final:  # the state after each write
                seen["states"].append(opened[0].state.name)

    monkeypatch.setattr(play, "StreamProgress", Record)
    args = types.SimpleNamespace(format=None, channels=None, rate=None, period_size=256,
                                 buffer_size=None, periods=4, verbose=False, progress=False)
    try:
        play.play_one(sess, Wav(RATE, "S16_LE", np.ones((2560, 2), "<i2"), "ones"), args,
                      lambda m: None)
    finally:
        sess.close()
    sw = seen["sw"]
    assert (sw.avail_min, sw.start_threshold, sw.stop_threshold) == (256, 1024, 1024)
    assert seen["states"][:5] == ["PREPARED"] * 3 + ["RUNNING"] * 2
    # whole periods: aplay pads none; play a period more, as the FIFO's tail is flushed
    assert len(seen["states"]) == 2560 // 256 + 1


def test_on_the_wall_clock_a_short_files_tap_is_silence_after_the_data(tmp_path):
    """The README's own path (the virtual card paced by the wall clock), five runs of a
    file that ends mid-period: each tap is the file, then only silence (the drain's
    silence fill reaches every frame the DMA fetches past the data)."""
    src = tmp_path / "in.wav"
    data = _wav(src, "<i2", 2, n=13001, seed=11)
    data[data == 0] = 1  # no zero sample: silence in the tap is never data
    wavfile.write(src, RATE, data)
    for run in range(5):
        tap = tmp_path / f"tap{run}.wav"
        assert main(["play", "-D", "virtual", "--clock", "wall", str(src), "--tap", str(tap),
                     "--no-progress"]) == 0  # aplay's geometry: periods of 6000 frames
        _, out = wavfile.read(tap)
        out = out[np.flatnonzero(out.any(axis=1))[0]:]  # the bus idles at zero before
        n = min(len(out), len(data))
        assert n == len(data), f"run {run}: {len(data) - n} frames not heard"
        assert np.array_equal(out[:n], data[:n]), f"run {run}: the data differs"
        assert not out[len(data):].any(), f"run {run}: stale audio after the data"


@pytest.mark.parametrize("n", [48123, 36001])
def test_lengths_off_the_period_end_in_silence_not_stale_ring(tmp_path, n):
    """The default setup (period 6000, buffer 24000) and files that end off a period
    boundary: the threshold-mode silence fill, measured from the new hw_ptr as mainline
    measures it, silences the ring ahead of the DMA (frames 58800 on of a 48123-frame
    file's tap once repeated input frames 34800 on)."""
    src = tmp_path / "in.wav"
    data = _wav(src, "<i2", 2, n=n, seed=12)
    _, tap = _play(tmp_path, src)
    assert np.array_equal(tap[:n], data)
    assert len(tap) == -(-n // 6000) * 6000 - 15  # the drain's boundary, less the FIFO's 15
    assert not tap[n:].any()


@pytest.mark.parametrize("n", [48000, 47999, 47900, 47873, 47872])
def test_a_file_ending_within_the_fifo_of_a_boundary_is_heard_to_its_last_frame(tmp_path, n):
    """The drain's stop flushes the I2S FIFO (hw_params' fifo_size: 128 frames of S16
    stereo): a file whose last period leaves less silence than that gets a period more,
    so the flush takes only silence (48000 frames once lost their last 15)."""
    src = tmp_path / "in.wav"
    data = _wav(src, "<i2", 2, n=n, seed=13)
    data[data == 0] = 1
    wavfile.write(src, RATE, data)
    _, tap = _play(tmp_path, src)
    bound = -(-n // 6000) * 6000
    assert np.array_equal(tap[:n], data)
    assert len(tap) == bound + (6000 if bound - n < 128 else 0) - 15
    assert not tap[n:].any()
