"""Sample-exact glitch analysis: where the output stopped being the input, and how.

Counterpart: none in the kernel (kselftest's pcm-test checks timing, not content); the
method is in docs/design-notes.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

WINDOW = 8
_P = np.uint64(0x9E3779B97F4A7C15)
_Q = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass
class Glitch:
    at_frame: int  # where it starts in the output
    kind: str  # silence, stale, noise, skip
    inserted: int  # output frames that are not the input's next frames
    lost: int  # input frames that never came out (negative: replayed)

    def as_dict(self, rate: int) -> dict:
        return {**asdict(self), "at_s": round(self.at_frame / rate, 6)}


@dataclass
class Analysis:
    glitches: list[Glitch]
    first_frame: int  # output frame where the input starts (-1: not found)
    frames_found: int  # input frames that came out, in order
    head_lost: int  # input frames missing before the first run
    tail_lost: int  # input frames missing after the last run


def _frame_hash(x: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(x).astype(np.int64).view(np.uint64)
    h = np.zeros(len(v), np.uint64)
    for c in range(v.shape[1]):
        h = (h ^ v[:, c]) * _P
    return h


def _window_hash(x: np.ndarray) -> np.ndarray:
    """Hash of each ``WINDOW``-frame window starting at each frame (len - WINDOW + 1)."""
    h = _frame_hash(x)
    n = len(h) - WINDOW + 1
    if n <= 0:
        return np.zeros(0, np.uint64)
    w = np.zeros(n, np.uint64)
    for k in range(WINDOW):
        w = w * _Q + h[k : k + n]
    return w


def _anchors(inp: np.ndarray, out: np.ndarray) -> np.ndarray:
    """For each output frame, the input frame whose unique window starts there, or -1."""
    hin = _window_hash(inp)
    hout = _window_hash(out)
    idx = np.full(len(out), -1, np.int64)
    if not len(hin) or not len(hout):
        return idx
    keys, first, counts = np.unique(hin, return_index=True, return_counts=True)
    keys, first = keys[counts == 1], first[counts == 1]
    pos = np.searchsorted(keys, hout)
    pos[pos >= len(keys)] = 0
    hit = keys[pos] == hout if len(keys) else np.zeros(len(hout), bool)
    idx[: len(hout)][hit] = first[pos[hit]]
    return idx


def _run_length(inp: np.ndarray, out: np.ndarray, i: int, j: int) -> int:
    """How many frames from out[j] on equal inp[i] on (vectorised, in growing blocks)."""
    n, block = 0, 4096
    while i + n < len(inp) and j + n < len(out):
        m = min(block, len(inp) - i - n, len(out) - j - n)
        eq = np.all(inp[i + n : i + n + m] == out[j + n : j + n + m], axis=1)
        if not eq.all():
            return n + int(np.argmin(eq))
        n += m
        block *= 4
    return n


def analyse(inp: np.ndarray, out: np.ndarray) -> Analysis:
    """Compare ``out`` with ``inp`` (both ``(frames, channels)``, same sample values)."""
    inp = inp.reshape(len(inp), -1)
    out = out.reshape(len(out), -1)
    idx = _anchors(inp, out)
    runs: list[tuple[int, int, int]] = []  # (out start, in start, length)
    j = 0
    while j < len(out):
        ahead = np.flatnonzero(idx[j:] >= 0)
        if not ahead.size:
            break
        ja = j + int(ahead[0])
        ia = int(idx[ja])
        length = _run_length(inp, out, ia, ja)
        runs.append((ja, ia, length))
        j = ja + max(length, 1)
    if not runs:
        return Analysis([], -1, 0, len(inp), 0)
    glitches: list[Glitch] = []
    found = 0
    jo, io, ln = runs[0]
    found += ln
    end_out, next_in = jo + ln, io + ln
    stale = False
    for ja, ia, length in runs[1:]:
        if ia < next_in:  # earlier input again: part of a glitch being replayed
            stale = True
            continue
        inserted = ja - end_out
        lost = ia - next_in
        if inserted or lost:
            gap = out[end_out:ja]
            if stale:
                kind = "stale"
            elif inserted == 0:
                kind = "skip"
            elif not gap.any():
                kind = "silence"
            else:
                kind = "noise"
            glitches.append(Glitch(end_out, kind, inserted, lost))
        stale = False
        found += length
        end_out, next_in = ja + length, ia + length
    return Analysis(glitches, jo, found, io, len(inp) - next_in)
