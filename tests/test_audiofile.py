"""Audio files in and out (demos/audiofile.py, demos/resample.py) and what play and
capture make of them, on the virtual clock."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import resample_poly

from demos import audiofile
from demos.audiofile import AudioInput, AudioOutput
from demos.cli import main
from demos.resample import StreamResampler
from tests.servers import ROOT

RATE = 48000


def _noise(n: int, ch: int = 2, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).integers(-30000, 30000, (n, ch)).astype("<i2")
    x[x == 0] = 1
    return x


def _play_tap(tmp_path, src: str, *extra: str) -> np.ndarray:
    tap = tmp_path / "tap.wav"
    assert main(["play", "-D", "virtual", "--clock", "virtual", src, "--tap", str(tap),
                 "--no-progress", *extra]) == 0
    got, rate = soundfile.read(tap, dtype="int16", always_2d=True)
    return got


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _wav_with(data: np.ndarray, extra: list[bytes], sizes: tuple[int, int] | None = None,
              form: bytes = b"RIFF") -> bytes:
    """A PCM WAV of ``data`` with the chunks ``extra`` before its data chunk; ``sizes``
    overrides the RIFF and data sizes (a stream's 0xffffffff)."""
    ch = data.shape[1]
    fmt = struct.pack("<HHIIHH", 1, ch, RATE, RATE * 2 * ch, 2 * ch, 16)
    raw = data.astype("<i2").tobytes()
    body = b"WAVE" + _chunk(b"fmt ", fmt) + b"".join(extra)
    riff, dsize = (sizes or (4 + len(body) - 4 + 8 + len(raw), len(raw)))
    return form + struct.pack("<I", riff) + body + b"data" + struct.pack("<I", dsize) + raw


CHUNKS = {
    "bext": _chunk(b"bext", bytes(602)),  # Broadcast WAV
    "cue": _chunk(b"cue ", struct.pack("<I", 0)),
    "id3": _chunk(b"id3 ", b"ID3\x04\0\0\0\0\0\0"),  # as Audacity writes it
    "PEAK": _chunk(b"PEAK", struct.pack("<II", 1, 0) + bytes(16)),
    "smpl": _chunk(b"smpl", bytes(36)),
    "LIST": _chunk(b"LIST", b"INFOISFT" + struct.pack("<I", 4) + b"x\0\0\0"),
}


@pytest.mark.parametrize("chunk", sorted(CHUNKS))
def test_a_wav_with_any_chunk_plays_exactly(tmp_path, chunk):
    data = _noise(7001)
    src = tmp_path / "in.wav"
    src.write_bytes(_wav_with(data, [CHUNKS[chunk]]))
    got = _play_tap(tmp_path, str(src))
    assert np.array_equal(got[: len(data)], data) and not got[len(data):].any()


@pytest.mark.parametrize("size", [0x7FFFFFFF, 0xFFFFFFFF])
def test_a_streaming_wav_plays_to_its_end(tmp_path, size):
    """What sox and ffmpeg write to a pipe: the sizes say 'as much as there is'."""
    data = _noise(5000)
    src = tmp_path / "in.wav"
    src.write_bytes(_wav_with(data, [], sizes=(size, size)))
    got = _play_tap(tmp_path, str(src))
    assert np.array_equal(got[: len(data)], data) and not got[len(data):].any()


@pytest.mark.parametrize("fmt, subtype", [("RF64", "PCM_16"), ("WAVEX", "PCM_16"),
                                          ("AIFF", "PCM_16"), ("FLAC", "PCM_16"),
                                          ("WAV", "PCM_24"), ("WAV", "PCM_U8"),
                                          ("WAV", "FLOAT"), ("WAV", "DOUBLE")])
def test_files_libsndfile_reads_play(tmp_path, fmt, subtype):
    data = _noise(7001)
    ext = {"AIFF": "aiff", "FLAC": "flac"}.get(fmt, "wav")
    src = tmp_path / f"in.{ext}"
    floats = subtype in ("FLOAT", "DOUBLE")
    soundfile.write(src, data / 32768 if floats else data, RATE, subtype=subtype, format=fmt)
    want, _ = soundfile.read(src, dtype="int16", always_2d=True)  # the file's own values
    got = _play_tap(tmp_path, str(src), "-f", "S16_LE")
    if floats:  # x / 32768 as float, through S32_LE to S16_LE: the sample, or a step off
        assert np.abs(got[:7001].astype(int) - data).max() <= 1
    else:
        assert np.array_equal(got[:7001], want)
    assert not got[7001:].any()


def test_an_ogg_vorbis_file_plays(tmp_path):
    t = np.arange(24000) / RATE
    tone = (np.sin(2 * np.pi * 440 * t) * 0.5)[:, None].repeat(2, axis=1)
    src = tmp_path / "in.ogg"
    soundfile.write(src, tone, RATE, format="OGG", subtype="VORBIS")
    got = _play_tap(tmp_path, str(src), "-f", "S16_LE")
    assert len(got) >= 23000 and np.abs(got[1000:20000]).max() > 10000  # the tone is there


def test_standard_input_plays(tmp_path):
    data = _noise(9000)
    src = tmp_path / "in.wav"
    soundfile.write(src, data, RATE, subtype="PCM_16")
    tap = tmp_path / "tap.wav"
    with open(src, "rb") as f:
        r = subprocess.run([sys.executable, "-m", "demos.cli", "play", "-D", "virtual",
                            "--clock", "virtual", "-", "--tap", str(tap), "--no-progress"],
                           stdin=f, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    got, _ = soundfile.read(tap, dtype="int16", always_2d=True)
    assert np.array_equal(got[:9000], data) and not got[9000:].any()


def test_capture_to_standard_output_is_a_streaming_wav(tmp_path):
    src = tmp_path / "src.wav"
    data = _noise(9600)
    soundfile.write(src, data, RATE, subtype="PCM_16")
    r = subprocess.run([sys.executable, "-m", "demos.cli", "capture", "-", "-d", "0.1",
                        "--source", str(src), "--clock", "virtual", "--no-progress"],
                       capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.wav"
    out.write_bytes(r.stdout)
    got, rate = soundfile.read(out, dtype="int16", always_2d=True)
    assert rate == RATE and np.array_equal(got, data[:4800])
    assert r.stdout[4:8] == b"\xff\xff\xff\xff"  # a stream's sizes, as sox writes them


def test_a_fifo_plays_and_one_with_no_writer_is_refused(tmp_path, monkeypatch, capsys):
    data = _noise(4000)
    wav = tmp_path / "in.wav"
    soundfile.write(wav, data, RATE, subtype="PCM_16")
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(wav.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    got = _play_tap(tmp_path, str(fifo))
    writer.join(10)
    assert np.array_equal(got[:4000], data)
    monkeypatch.setattr(audiofile, "OPEN_WAIT_S", 0.2)
    assert main(["play", "-D", "virtual", "--clock", "virtual", str(fifo),
                 "--no-progress"]) == 2
    assert "a FIFO with no writer for 0.2 s" in capsys.readouterr().err


def test_an_output_in_every_format_reads_back(tmp_path):
    rng = np.random.default_rng(3)
    cases = {"S16_LE": rng.integers(-2**15, 2**15, (500, 2)).astype(np.int16),
             "S24_LE": rng.integers(-2**23, 2**23, (500, 2)).astype(np.int32),
             "S32_LE": rng.integers(-2**31, 2**31, (500, 2)).astype(np.int32),
             "U8": rng.integers(0, 256, (500, 2)).astype(np.uint8),
             "FLOAT_LE": rng.uniform(-1, 1, (500, 2)).astype(np.float32)}
    for fmt, frames in cases.items():
        path = str(tmp_path / f"{fmt}.wav")
        out = AudioOutput(path, RATE, fmt, 2, 500)
        out.write(frames)
        out.close()
        with AudioInput(path) as back:
            assert back.format == fmt and back.length == 500
            assert np.array_equal(back.read(1000), frames)


@given(src=st.sampled_from([8000, 11025, 22050, 44100, 48000, 96000, 12345]),
       dst=st.sampled_from([8000, 44100, 48000, 96000]),
       n=st.integers(0, 5000), blocks=st.lists(st.integers(1, 2000), min_size=1),
       seed=st.integers(0, 1000))
def test_the_stream_resampler_computes_what_resample_poly_computes(src, dst, n, blocks, seed):
    x = np.random.default_rng(seed).standard_normal((n, 2))
    g = np.gcd(src, dst)
    want = resample_poly(x, dst // g, src // g, axis=0) if n and src != dst else x
    r = StreamResampler(src, dst, 2)
    outs, i, k = [], 0, 0
    while i < n:
        step = blocks[k % len(blocks)]
        outs.append(r.push(x[i : i + step]))
        i, k = i + step, k + 1
    outs.append(r.finish())
    got = np.concatenate(outs)
    assert got.shape == want.shape
    if n:
        assert np.abs(got - want).max() < 1e-9
