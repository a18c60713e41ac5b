"""Audio files in and out, a block at a time, through libsndfile (python-soundfile).

Counterpart: aplay/arecord's file handling. Any format libsndfile reads plays; capture
writes WAV, RF64 past 4 GiB. Details: docs/design-notes.md.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soundfile

from demos.usage import UsageError

OPEN_WAIT_S = 10.0  # how long a FIFO may wait for its writer
RATES = (1000, 768000)  # file rates the plug resamples from or to
MAX_CHANNELS = 64  # file channels the plug routes
SFC_RF64_AUTO_DOWNGRADE = 0x1210  # sndfile.h: WAV until the data passes 4 GiB
WAV_LIMIT = 2**32 - 2**20  # data bytes a plain WAV holds, with room for its chunks

# libsndfile subtype -> the ALSA format its samples are read as
_SUBTYPE_FORMAT = {"PCM_U8": "U8", "PCM_S8": "S8", "PCM_16": "S16_LE", "PCM_24": "S24_LE",
                   "PCM_32": "S32_LE", "FLOAT": "FLOAT_LE", "DOUBLE": "FLOAT_LE"}
# ALSA format -> (numpy dtype the samples are read as, libsndfile subtype written)
_READ_AS = {"U8": "int16", "S8": "int16", "S16_LE": "int16", "S24_LE": "int32",
            "S32_LE": "int32", "FLOAT_LE": "float32"}
_WRITE_AS = {"U8": "PCM_U8", "S16_LE": "PCM_16", "S24_LE": "PCM_24", "S32_LE": "PCM_32",
             "FLOAT_LE": "FLOAT"}


@dataclass
class Wav:
    """Frames held in memory, read as a file is (the demo sound, a generated signal)."""

    rate: int
    format: str  # ALSA name
    frames: np.ndarray  # (n, channels) in the format's dtype (S24_LE: int32, low 24 bits)
    name: str = "frames in memory"

    @property
    def channels(self) -> int:
        return self.frames.shape[1]

    @property
    def length(self) -> int:
        return len(self.frames)

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        for i in range(0, len(self.frames), n):
            yield self.frames[i : i + n]

    def close(self) -> None:
        pass


def _one_line(err: BaseException) -> str:
    """libsndfile's own words for what went wrong, on one line."""
    text = getattr(err, "error_string", None) or str(err)
    text = text.strip().splitlines()
    return text[-1] if text else type(err).__name__


def _alsa_format(subtype: str) -> str:
    """The ALSA format a libsndfile subtype is read as: its own where ALSA has it, else
    by its width (a compressed 16-bit stream as S16_LE, ...), float for the lossy ones."""
    if subtype in _SUBTYPE_FORMAT:
        return _SUBTYPE_FORMAT[subtype]
    for bits, fmt in (("24", "S24_LE"), ("20", "S24_LE"), ("32", "S32_LE"), ("16", "S16_LE"),
                      ("12", "S16_LE"), ("8", "S16_LE")):
        if bits in subtype:
            return fmt
    if subtype in ("ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM", "GSM610", "G721_32",
                   "G723_24", "G723_40", "VOX_ADPCM", "NMS_ADPCM_16"):
        return "S16_LE"
    return "FLOAT_LE"  # VORBIS, OPUS, MPEG layers and the rest: decoded to float


def _wait_for_writer(path: str) -> int:
    """A FIFO opened without blocking, then waited on for data (or its end) at most
    :data:`OPEN_WAIT_S`; the descriptor, back in blocking mode."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        if not poller.poll(int(OPEN_WAIT_S * 1000)):
            raise UsageError(f"{path}: a FIFO with no writer for {OPEN_WAIT_S:g} s")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


class AudioInput:
    """A file to read a block at a time. ``length`` (frames) is None where the file does
    not say (a pipe)."""

    def __init__(self, path: str) -> None:
        self.name = "standard input" if path == "-" else path
        self.path = path
        try:
            if path == "-":
                self._file = soundfile.SoundFile(sys.stdin.fileno(), closefd=False)
            elif os.path.exists(path) and stat.S_ISFIFO(os.stat(path).st_mode):
                self._file = soundfile.SoundFile(_wait_for_writer(path), closefd=True)
            else:
                if os.path.isdir(path):
                    raise UsageError(f"{path}: is a directory")
                if not os.path.exists(path):
                    raise UsageError(f"{path}: no such file")
                self._file = soundfile.SoundFile(path)
        except UsageError:
            raise
        except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError,
                TypeError) as e:
            raise UsageError(f"{self.name}: {_one_line(e)}") from None
        f = self._file
        try:
            self.format = _alsa_format(f.subtype)
            self.channels, self.rate = int(f.channels), int(f.samplerate)
            if not 1 <= self.channels <= MAX_CHANNELS:
                raise UsageError(f"{self.name}: {self.channels} channels (1 to "
                                 f"{MAX_CHANNELS} play)")
            if not RATES[0] <= self.rate <= RATES[1]:
                raise UsageError(f"{self.name}: a rate of {self.rate} Hz ({RATES[0]} to "
                                 f"{RATES[1]} Hz play)")
        except BaseException:
            f.close()
            raise
        known = f.seekable() and 0 <= f.frames < 1 << 62
        self.length: int | None = int(f.frames) if known else None
        self.describe = f"{f.format_info}, {f.subtype_info}"

    def read(self, n: int) -> np.ndarray:
        """Up to ``n`` frames as ``(k, channels)`` in the ALSA format; 0 frames at the
        end. A file that turns out corrupt or cut short mid-read ends there: libsndfile
        reads what it can and reports the rest as the end."""
        try:
            block = self._file.read(n, dtype=_READ_AS[self.format], always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as e:
            raise UsageError(f"{self.name}: {_one_line(e)}") from None
        fmt = self.format
        if fmt == "U8":
            return ((block >> 8) + 128).astype(np.uint8)
        if fmt == "S8":
            return (block >> 8).astype(np.int8)
        if fmt == "S24_LE":
            return block >> 8
        return block

    def seek(self, frame: int) -> None:
        """Read on from ``frame`` (a file on disk; a pipe cannot)."""
        self._file.seek(frame)

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        """The file in blocks of ``n`` frames (the last one shorter)."""
        while True:
            block = self.read(n)
            if not len(block):
                return
            yield block

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stream_header(rate: int, fmt: str, channels: int) -> bytes:
    """A WAV header with a stream's sizes (0xffffffff), for a pipe."""
    bits = {"U8": 8, "S16_LE": 16, "S24_LE": 24, "S32_LE": 32, "FLOAT_LE": 32}[fmt]
    codec = 3 if fmt == "FLOAT_LE" else 1
    align = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", codec, channels, rate, rate * align, align, bits)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt "
            + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data"
            + struct.pack("<I", 0xFFFFFFFF))


class AudioOutput:
    """A WAV file written a block at a time (``-``: standard output).

    Parameters
    ----------
    path : the file, or ``-``.
    rate, fmt, channels : what it holds (``fmt`` an ALSA name).
    frames_hint : how many frames will be written, where known: a WAV that stays under
        4 GiB is plain WAV, any other RF64-capable.
    """

    def __init__(self, path: str, rate: int, fmt: str, channels: int,
                 frames_hint: int | None = None) -> None:
        self.path, self.rate, self.format, self.channels = path, rate, fmt, channels
        self.name = "standard output" if path == "-" else path
        self.frames = 0
        subtype = _WRITE_AS[fmt]
        try:
            if path == "-" and not _seekable(sys.stdout.fileno()):
                fd = sys.stdout.fileno()
                sys.stdout.flush()
                os.write(fd, _stream_header(rate, fmt, channels))
                self._file = soundfile.SoundFile(fd, "w", rate, channels, subtype,
                                                 format="RAW", closefd=False)
            else:
                where: int | str = sys.stdout.fileno() if path == "-" else path
                width = {"U8": 1, "S16_LE": 2}.get(fmt, 4) * channels
                small = frames_hint is not None and frames_hint * width < WAV_LIMIT
                self._file = soundfile.SoundFile(where, "w", rate, channels, subtype,
                                                 format="WAV" if small else "RF64",
                                                 closefd=path != "-")
                if not small:  # python-soundfile has no sf_command of its own
                    soundfile._snd.sf_command(self._file._file, SFC_RF64_AUTO_DOWNGRADE,
                                              soundfile._ffi.NULL, 1)
        except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as e:
            raise UsageError(f"{self.name}: {_one_line(e)}") from None

    def write(self, frames: np.ndarray) -> None:
        """Frames ``(k, channels)`` in the ALSA format. OSError where libsndfile could not
        write them all (ENOSPC where the disk is full, else EIO)."""
        if self.format == "S24_LE":
            frames = np.asarray(frames, np.int32) << 8
        elif self.format == "U8":
            frames = (frames.astype(np.int16) - 128) << 8
        try:
            self._file.write(np.ascontiguousarray(frames))
        except (soundfile.LibsndfileError, AssertionError):  # a short write
            raise self._write_error() from None
        self.frames += len(frames)

    def _write_error(self) -> OSError:
        """libsndfile says "System error." only: the disk's free space tells ENOSPC."""
        code = errno.EIO
        if self.path != "-":
            st = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
            code = errno.ENOSPC if st.f_bavail * st.f_frsize < 65536 else errno.EIO
        return OSError(code, os.strerror(code), self.name)

    def sync(self) -> None:
        """``sf_write_sync``: the data to the disk and the header's sizes up to date."""
        try:
            self._file.flush()
        except soundfile.LibsndfileError:
            raise self._write_error() from None

    def close(self) -> None:
        """The header's sizes written for the last time, and the file closed."""
        try:
            self._file.close()
        except soundfile.LibsndfileError:
            raise self._write_error() from None

    def __enter__(self) -> AudioOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _seekable(fd: int) -> bool:
    try:
        os.lseek(fd, 0, os.SEEK_CUR)
        return True
    except OSError:
        return False
