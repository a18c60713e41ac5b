"""The glitch analysis of :mod:`demos.glitches`, a block of output at a time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from demos.glitches import WINDOW, Analysis, Glitch, _window_hash

ReadInput = Callable[[int, int], np.ndarray]  # (first frame, frames) -> (n, channels)


MATCHABLE = 0.9  # the share of input frames in a unique window the analysis needs


def matchable_stream(read_input: ReadInput, n_input: int, span: int) -> float:
    """The share of the input's frames that lie in a ``WINDOW``-frame window occurring
    once within its ``span``: where a glitch can be located. A sine or digital silence
    has none."""
    covered = 0
    for lo in range(0, n_input, span):
        hi = min(lo + span, n_input)
        x = np.asarray(read_input(lo, min(hi + WINDOW - 1, n_input) - lo))
        h = _window_hash(x.reshape(len(x), -1))
        if not len(h):
            continue
        _, first, counts = np.unique(h, return_index=True, return_counts=True)
        starts = first[counts == 1]
        cover = np.zeros(len(x) + WINDOW, np.int64)
        np.add.at(cover, starts, 1)
        np.add.at(cover, starts + WINDOW, -1)
        covered += int((np.cumsum(cover)[: hi - lo] > 0).sum())
    return covered / n_input if n_input else 0.0


class StreamAnalyser:
    """Feed the output with :meth:`push`, in order; :meth:`finish` gives the Analysis.

    Parameters
    ----------
    read_input : frames of the input by range, ``read_input(first, n)``.
    n_input : the input's length in frames.
    horizon : how far (frames) a glitch may move the output against the input.
    """

    def __init__(self, read_input: ReadInput, n_input: int, horizon: int) -> None:
        self.read_input, self.n_input = read_input, n_input
        self.horizon = max(horizon, 16 * WINDOW)
        self.out = np.zeros((0, 0), np.int64)  # output from out_base on
        self.out_base = 0
        self.j = 0  # where the search for the next anchor goes on
        self.cur: list[int] | None = None  # the run being extended: [ja, ia, length]
        # the input index: unique window hashes within [lo, hi), sorted, with positions
        self.lo = self.hi = -1
        self.keys = np.zeros(0, np.uint64)
        self.first_at = np.zeros(0, np.int64)
        # the runs, as analyse() folds them into glitches
        self.first: tuple[int, int] | None = None
        self.found = 0
        self.end_out = self.next_in = 0
        self.stale = False
        self.gap_nonzero = False  # anything but zeros in out[end_out:] already let go
        self.glitches: list[Glitch] = []

    # -- input --

    def _input(self, first: int, n: int) -> np.ndarray:
        first, last = max(first, 0), min(first + n, self.n_input)
        if last <= first:
            return np.zeros((0, self.out.shape[1]), np.int64)
        return np.asarray(self.read_input(first, last - first)).astype(np.int64)

    def _index_around(self, centre: int) -> None:
        """The unique windows of the input within a horizon of ``centre``."""
        if self.lo <= centre - self.horizon // 2 and centre + self.horizon <= self.hi:
            return
        lo = max(centre - self.horizon, 0)
        hi = min(centre + 2 * self.horizon, self.n_input)
        h = _window_hash(self._input(lo, hi - lo))
        keys, first, counts = np.unique(h, return_index=True, return_counts=True)
        once = counts == 1
        self.keys, self.first_at = keys[once], first[once].astype(np.int64) + lo
        # an index that reaches the input's end serves every centre up to it
        self.lo, self.hi = lo, hi if hi < self.n_input else hi + self.horizon

    # -- output --

    def push(self, block: np.ndarray) -> None:
        block = np.asarray(block).astype(np.int64).reshape(len(block), -1)
        if self.out.shape[1] != block.shape[1]:  # the first block sets the channels
            self.out = np.zeros((0, block.shape[1]), np.int64)
        if len(block):
            self.out = np.concatenate([self.out, block])
        self._advance(False)

    def finish(self) -> Analysis:
        self._advance(True)
        if self.first is None:
            return Analysis([], -1, 0, self.n_input, 0)
        jo, io = self.first
        return Analysis(self.glitches, jo, self.found, io, self.n_input - self.next_in)

    def _advance(self, final: bool) -> None:
        end = self.out_base + len(self.out)  # output frames held end here
        while True:
            if self.cur is not None:
                ja, ia, length = self.cur
                o0, i0 = ja + length, ia + length
                m = min(end - o0, self.n_input - i0)
                if m > 0:
                    seg = self.out[o0 - self.out_base : o0 - self.out_base + m]
                    eq = np.all(seg == self._input(i0, m), axis=1)
                    if not eq.all():
                        self.cur[2] += int(np.argmin(eq))
                        self._close_run()
                        continue
                    self.cur[2] += m
                if i0 + max(m, 0) >= self.n_input or final:
                    self._close_run()
                    continue
                self._let_go(end)  # the run goes on past what the output holds yet
                return
            if self.j >= end:
                return
            hit = self._search(end)
            if hit is None:
                if final:
                    return
                self._note_gap(self.j)
                self._let_go(self.j)
                return
            self._note_gap(hit[0])
            self.cur = [hit[0], hit[1], 0]

    def _search(self, end: int) -> tuple[int, int] | None:
        """The first output window at or after ``j`` that is a unique input window."""
        self._index_around(self.next_in if self.first is not None else 0)
        seg = self.out[self.j - self.out_base : end - self.out_base]
        hout = _window_hash(seg)
        if len(hout) and len(self.keys):
            pos = np.searchsorted(self.keys, hout)
            pos[pos >= len(self.keys)] = 0
            hits = np.flatnonzero(self.keys[pos] == hout)
            if hits.size:
                k = int(hits[0])
                return self.j + k, int(self.first_at[pos[k]])
        self.j = max(self.j, end - WINDOW + 1)  # no window ends before here: look on
        return None

    def _close_run(self) -> None:
        assert self.cur is not None
        ja, ia, length = self.cur
        self.cur = None
        self._run(ja, ia, length)
        self.j = ja + max(length, 1)
        self._let_go(self.j)

    def _note_gap(self, upto: int) -> None:
        """Whether the output from ``end_out`` to ``upto`` (what a glitch would have
        inserted) holds anything but zeros: its kind, silence or noise."""
        start = max(self.end_out, self.out_base)
        if upto > start:
            self.gap_nonzero |= bool(self.out[start - self.out_base : upto - self.out_base]
                                     .any())

    def _let_go(self, upto: int) -> None:
        """Forget the output before ``upto`` (the search needs nothing before it)."""
        upto = min(upto, self.out_base + len(self.out))
        if upto > self.out_base:
            self.out = self.out[upto - self.out_base :]
            self.out_base = upto

    def _run(self, ja: int, ia: int, length: int) -> None:
        """One run, as analyse() folds the runs into glitches."""
        if self.first is None:
            self.first = (ja, ia)
        elif ia < self.next_in:  # earlier input again: part of a glitch being replayed
            self.stale = True
            return
        else:
            inserted, lost = ja - self.end_out, ia - self.next_in
            if inserted or lost:
                if self.stale:
                    kind = "stale"
                elif inserted == 0:
                    kind = "skip"
                elif not self.gap_nonzero:
                    kind = "silence"
                else:
                    kind = "noise"
                self.glitches.append(Glitch(self.end_out, kind, inserted, lost))
            self.stale = False
        self.found += length
        self.end_out, self.next_in = ja + length, ia + length
        self.gap_nonzero = False
