"""Sample formats by their ALSA names.

Counterpart: the format table of sound/core/pcm_misc.c (``snd_pcm_format_width``,
``snd_pcm_format_physical_width``, ``snd_pcm_format_silence_64``). Only the formats the
demonstrator moves are listed; their numbers are the kernel's ``SNDRV_PCM_FORMAT_*``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PcmFormat:
    name: str
    number: int  # SNDRV_PCM_FORMAT_*
    width: int  # significant bits
    phys: int  # bits in memory per sample
    signed: bool
    dtype: str  # numpy dtype of one sample in memory

    @property
    def silence(self) -> int:
        """The sample value of silence (0x80 for U8, 0 otherwise)."""
        return 0 if self.signed else 1 << (self.width - 1)


FORMATS: dict[str, PcmFormat] = {
    f.name: f
    for f in (
        PcmFormat("S8", 0, 8, 8, True, "i1"),
        PcmFormat("U8", 1, 8, 8, False, "u1"),
        PcmFormat("S16_LE", 2, 16, 16, True, "<i2"),
        PcmFormat("S24_LE", 6, 24, 32, True, "<i4"),
        PcmFormat("S32_LE", 10, 32, 32, True, "<i4"),
        PcmFormat("FLOAT_LE", 14, 32, 32, True, "<f4"),
    )
}
BY_NUMBER = {f.number: f for f in FORMATS.values()}


def pcm_format(name: str) -> PcmFormat:
    """The format called ``name`` (case-insensitive); ValueError naming the choices."""
    fmt = FORMATS.get(name.upper())
    if fmt is None:
        raise ValueError(f"unknown sample format {name!r} (known: {', '.join(FORMATS)})")
    return fmt


def silence(fmt: PcmFormat, frames: int, channels: int) -> np.ndarray:
    """``snd_pcm_format_set_silence`` for ``frames`` frames, as bytes."""
    out = np.full(frames * channels, fmt.silence, dtype=fmt.dtype)
    return out.view(np.uint8)
