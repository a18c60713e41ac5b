"""What stress plays, read by range: the writer in order, the glitch analysis where it
looks. A generated glide, or a file, converted to the hardware's format once.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from demos.audiofile import AudioInput, AudioOutput
from demos.plug import Converter, PlugPlan

BLOCK = 65536  # frames of the glide made at a time


class Glide:
    """The stress signal, S16_LE, ``seconds`` long at ``rate``."""

    format = "S16_LE"

    def __init__(self, rate: int, channels: int, seconds: float, seed: int = 1) -> None:
        self.rate, self.channels, self.seed = rate, channels, seed
        self.length = int(round(rate * seconds))
        self.name = f"a {seconds:g} s glide"
        self._phase = [0.0]  # the phase at the start of each block made so far
        self._cache: tuple[int, np.ndarray] | None = None

    def _block(self, k: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == k:
            return self._cache[1]
        while len(self._phase) <= k:  # the phase carried from block to block
            b = len(self._phase) - 1
            self._phase.append(self._phase[-1] + float(self._freqs(b).sum()))
        f = self._freqs(k)
        phase = 2 * np.pi * (self._phase[k] + np.cumsum(f)) / self.rate
        rng = np.random.default_rng([self.seed, k])
        out = np.empty((len(f), self.channels), np.int16)
        for c in range(self.channels):
            tone = np.rint(8192 * np.sin(phase + c * np.pi / 3))
            out[:, c] = np.clip(tone + rng.integers(-100, 101, len(f)), -32768, 32767)
        self._cache = (k, out)
        return out

    def _freqs(self, k: int) -> np.ndarray:
        t = np.arange(k * BLOCK, (k + 1) * BLOCK) / self.rate
        return 440 * 2 ** np.sin(2 * np.pi * t / 8.0)

    def read(self, first: int, n: int) -> np.ndarray:
        """Frames ``first`` to ``first + n`` (fewer past the end)."""
        last = min(first + n, self.length)
        parts = []
        i = first
        while i < last:
            k, off = divmod(i, BLOCK)
            take = min(BLOCK - off, last - i)
            parts.append(self._block(k)[off : off + take])
            i += take
        return np.concatenate(parts) if parts else np.zeros((0, self.channels), np.int16)

    def close(self) -> None:
        pass


class FileSource:
    """A seekable audio file, read by range in its ALSA format (its first ``length``
    frames: a caller may make that fewer)."""

    def __init__(self, path: str, remove: bool = False) -> None:
        self.input = AudioInput(path)
        self.path, self.remove = path, remove
        self.name = self.input.name
        self.format, self.channels, self.rate = (self.input.format, self.input.channels,
                                                 self.input.rate)
        length = self.input.length
        if length is None:
            self.input.close()
            raise ValueError(f"{self.name}: stress reads its input twice (to write it and "
                             "to find it in the output): a pipe cannot be")
        self.length = length
        self._pos = -1

    def read(self, first: int, n: int) -> np.ndarray:
        n = max(min(n, self.length - first), 0)
        if first != self._pos:
            self.input.seek(first)
        block = self.input.read(n)
        self._pos = first + len(block)
        return block

    def close(self) -> None:
        self.input.close()
        if self.remove:
            os.unlink(self.path)


def to_hardware(src, p: PlugPlan) -> FileSource:
    """``src`` converted by the plug to the plan's format, channels and rate, a block at
    a time, into a temporary WAV that is removed on close."""
    fd, path = tempfile.mkstemp(suffix=".wav", prefix="dma-audio-stress-")
    os.close(fd)
    try:
        conv = Converter(src.format, src.rate, p)
        hint = -(-src.length * p.rate // src.rate)
        with AudioOutput(path, p.rate, p.format, p.channels, hint) as out:
            for first in range(0, src.length, BLOCK):
                out.write(conv.push(src.read(first, BLOCK)))
            out.write(conv.finish())
        return FileSource(path, remove=True)
    except BaseException:
        os.unlink(path)
        raise
