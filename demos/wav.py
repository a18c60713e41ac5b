"""WAV files in and out, through scipy.io.wavfile, with one-line errors for bad input.

scipy reads the samples; a short look at the RIFF chunks first gives what scipy does not
report (the bit depth that tells 24-bit from 32-bit, a declared size larger than the file)
and turns every refusal into a :class:`~demos.usage.UsageError`. Formats by ALSA name:
U8, S16_LE, S24_LE (from 24-bit WAVs, the sample in the low 24 bits), S32_LE, FLOAT_LE;
PCM and IEEE-float WAVs, plain or WAVE_FORMAT_EXTENSIBLE.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np

from demos.usage import UsageError

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
CODECS = {0x0002: "MS ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
          0x0055: "MP3"}


@dataclass
class Wav:
    rate: int
    format: str  # ALSA name
    frames: np.ndarray  # (n, channels) in the format's dtype (S24_LE: int32, low 24 bits)

    @property
    def channels(self) -> int:
        return self.frames.shape[1]


def _header(path: str) -> tuple[int, int, int, int]:
    """(codec, channels, rate, bits) from the fmt chunk; refuses what cannot be played."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] not in (b"RIFF", b"RIFX") or riff[8:12] != b"WAVE":
            raise UsageError(f"{path}: not a WAV file (no RIFF/WAVE header)")
        fmt = None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                fmt = f.read(min(clen, 40))
            elif cid == b"data":
                if fmt is None:
                    raise UsageError(f"{path}: data chunk before the fmt chunk")
                if pos + 8 + clen > size:
                    raise UsageError(f"{path}: truncated (data chunk of {clen} bytes, "
                                     f"{size - pos - 8} in the file)")
                break
            pos += 8 + clen + (clen & 1)
        else:
            raise UsageError(f"{path}: truncated (no data chunk)" if fmt else
                             f"{path}: no fmt chunk")
    if fmt is None or len(fmt) < 16:
        raise UsageError(f"{path}: truncated fmt chunk")
    codec, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if codec == WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        codec = struct.unpack("<H", fmt[24:26])[0]
    if codec not in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT):
        name = CODECS.get(codec, f"0x{codec:04x}")
        raise UsageError(f"{path}: unsupported WAV codec {name} (PCM and IEEE float are)")
    if channels == 0:
        raise UsageError(f"{path}: 0 channels")
    if rate == 0:
        raise UsageError(f"{path}: sample rate 0")
    return codec, channels, rate, bits


def read_wav(path: str) -> Wav:
    """The file's frames and format; UsageError (one line) for anything unplayable."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory")
    try:
        codec, channels, rate, bits = _header(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rate, data = _scipy_read(path)
    except UsageError:
        raise
    except (ValueError, OSError, Warning, struct.error) as e:
        raise UsageError(f"{path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") \
            from None
    data = data.reshape(len(data), channels)
    if codec == WAVE_FORMAT_IEEE_FLOAT:
        if data.dtype != np.float32:
            raise UsageError(f"{path}: {bits}-bit float samples (FLOAT_LE is 32-bit)")
        return Wav(rate, "FLOAT_LE", data)
    if bits == 8:
        return Wav(rate, "U8", data.astype(np.uint8))
    if bits == 16:
        return Wav(rate, "S16_LE", data.astype("<i2"))
    if bits == 24:
        return Wav(rate, "S24_LE", (data.astype("<i4") >> 8))
    if bits == 32:
        return Wav(rate, "S32_LE", data.astype("<i4"))
    raise UsageError(f"{path}: {bits}-bit PCM is not supported (8, 16, 24 and 32 are)")


def _scipy_read(path: str):
    from scipy.io import wavfile

    return wavfile.read(path)


def write_wav(path: str, rate: int, fmt: str, frames: np.ndarray) -> None:
    """Write frames of ALSA format ``fmt``. S24_LE goes out as 32-bit PCM with the sample
    left-justified (scipy writes no 24-bit WAVs); readers see the same values scaled."""
    from scipy.io import wavfile

    if fmt == "S24_LE":
        frames = np.asarray(frames, "<i4") << 8
    wavfile.write(path, rate, np.ascontiguousarray(frames))
