"""The plug step: convert between a file's frames and what the hardware takes, and say so.

Counterpart: alsa-lib's plug plugin (format, channels by its default routing table, rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pcm import params as hp
from pcm.formats import FORMATS

WIDEN = {"U8": ["S16_LE", "S24_LE", "S32_LE"], "S8": ["S16_LE", "S24_LE", "S32_LE"],
         "FLOAT_LE": ["S32_LE", "S24_LE", "S16_LE"], "S16_LE": ["S24_LE", "S32_LE"],
         "S24_LE": ["S32_LE", "S16_LE"], "S32_LE": ["S24_LE", "S16_LE"]}
WORD_FORMAT = {16: "S16_LE", 24: "S24_LE", 32: "S32_LE"}  # an I2S word's sample format
SHIFT = {"S8": 24, "S16_LE": 16, "S24_LE": 8, "S32_LE": 0}  # left shift to a 32-bit word


@dataclass
class PlugPlan:
    format: str
    channels: int
    rate: int
    notes: list[str]


def plan(space: hp.HwParams, fmt: str, channels: int, rate: int,
         source: tuple[str, int, int],
         rate_near: Callable[[str, int, int], int]) -> PlugPlan:
    """The hardware configuration nearest the one wanted, from the refined ``space``;
    the notes say how the ``source`` (the file's format, channels, rate) gets there, and
    which asked value the hardware does not have (as aplay warns "rate is not
    accurate"). ``rate_near(format, channels, rate)`` is the hardware's nearest rate
    (:meth:`pcm.alsa.Pcm.rate_near`)."""
    names = {n: f for n, f in FORMATS.items() if f.number in space.masks["FORMAT"]}
    out_fmt = fmt
    if fmt not in names:
        out_fmt = next((f for f in WIDEN.get(fmt, []) if f in names), None) or next(iter(names))
    ch = space["CHANNELS"]
    out_ch = min(max(channels, ch.min), ch.max)
    out_rate = rate_near(out_fmt, out_ch, rate)
    src_fmt, src_ch, src_rate = source
    notes = []
    if fmt not in (out_fmt, src_fmt):
        notes.append(f"{fmt} asked, the hardware has no {fmt}")
    if channels not in (out_ch, src_ch):
        notes.append(f"{channels} channels asked, the hardware takes {ch.min} to {ch.max}")
    if rate not in (out_rate, src_rate):
        notes.append(f"{rate} Hz asked, the hardware's nearest rate is {out_rate} Hz")
    return plan_exact(out_fmt, out_ch, out_rate, source, notes)


def plan_exact(fmt: str, channels: int, rate: int, source: tuple[str, int, int],
               notes: list[str] | None = None) -> PlugPlan:
    """The plan from ``source`` (format, channels, rate) to exactly ``fmt``, ``channels``
    and ``rate``, with a note for each conversion."""
    src_fmt, src_ch, src_rate = source
    notes = list(notes or [])
    if fmt != src_fmt:
        notes.append(f"format {src_fmt} -> {fmt}")
    if channels != src_ch:
        notes.append(f"channels {src_ch} -> {channels}")
    if rate != src_rate:
        notes.append(f"rate {src_rate} -> {rate} Hz (resample_poly)")
    return PlugPlan(fmt, channels, rate, notes)


def to_word32(frames: np.ndarray, fmt: str) -> np.ndarray:
    """Any supported format as int64 sample values on a 32-bit full scale."""
    if fmt == "U8":
        return (frames.astype(np.int64) - 128) << 24
    if fmt == "FLOAT_LE":
        scaled = np.rint(frames.astype(np.float64) * 2**31)
        return np.clip(scaled, -(2**31), 2**31 - 1).astype(np.int64)
    return frames.astype(np.int64) << SHIFT[fmt]


def from_word32(words: np.ndarray, fmt: str) -> np.ndarray:
    """int64 sample values on a 32-bit full scale as ``fmt``: the low bits a narrower
    format has no room for are dropped (an arithmetic shift, as alsa-lib's)."""
    if fmt == "U8":
        return ((words >> 24) + 128).astype(np.uint8)
    if fmt == "FLOAT_LE":
        return (words / 2**31).astype(np.float32)
    return (words >> SHIFT[fmt]).astype(FORMATS[fmt].dtype)


def route(words: np.ndarray, channels: int) -> np.ndarray:
    """``words`` (n, source channels) on ``channels``, by the plug's default route table
    (see the module's docstring). A mean is rounded to the nearest word."""
    n, src = words.shape
    if src == channels:
        return words
    if channels == 1:
        return np.rint(words.sum(axis=1, keepdims=True) / src).astype(np.int64)
    out = np.zeros((n, channels), np.int64)
    if src == 1:
        out[:] = words
    else:
        k = min(src, channels)
        out[:, :k] = words[:, :k]
    return out


class Converter:
    """The plug's conversion from ``fmt``, ``channels`` at ``rate`` to the plan's, a
    block at a time: format and route per frame, the rate through a
    :class:`~demos.resample.StreamResampler`, so memory stays a block's."""

    def __init__(self, fmt: str, rate: int, p: PlugPlan) -> None:
        self.fmt, self.plan = fmt, p
        self.resampler = None
        if rate != p.rate:
            from demos.resample import StreamResampler  # scipy.signal: only where needed

            self.resampler = StreamResampler(rate, p.rate, p.channels)

    def push(self, frames: np.ndarray) -> np.ndarray:
        """The converted frames these complete (fewer or more where the rate changes)."""
        if not self.plan.notes:
            return frames
        words = route(to_word32(frames, self.fmt), self.plan.channels)
        if self.resampler is not None:
            words = self._rounded(self.resampler.push(words))
        return from_word32(words, self.plan.format)

    def finish(self) -> np.ndarray:
        """What the resampler still holds, converted (nothing where the rate stays)."""
        if self.resampler is None:
            return np.zeros((0, self.plan.channels), FORMATS[self.plan.format].dtype)
        return from_word32(self._rounded(self.resampler.finish()), self.plan.format)

    @staticmethod
    def _rounded(y: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(y), -(2**31), 2**31 - 1).astype(np.int64)
