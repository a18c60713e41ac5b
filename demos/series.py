"""Samples kept for a plot, in bounded memory whatever the run's length."""

from __future__ import annotations

import numpy as np


class Series:
    """(time, value) samples, at most ``cap`` points: when full, each two neighbouring
    points merge into one that keeps the first time and the low and high value, and
    later samples go into points as wide (an oscilloscope's peak detect).

    Parameters
    ----------
    cap : int
        The most points kept (even); a run of up to ``cap`` samples is kept exactly.
        Memory is taken as points are written, up to 24 bytes a point.
    """

    def __init__(self, cap: int = 1 << 18) -> None:
        self.cap = cap - cap % 2
        self.t = np.empty(self.cap, np.int64)
        self.lo = np.empty(self.cap, np.int64)
        self.hi = np.empty(self.cap, np.int64)
        self.n = 0
        self.stride = 1  # samples a point holds
        self.filled = 1  # samples in the last point: as if full, so the first opens one

    def append(self, t: int, y: int) -> None:
        if self.filled == self.stride:
            if self.n == self.cap:
                self._halve()
            self.t[self.n] = t
            self.lo[self.n] = self.hi[self.n] = y
            self.n += 1
            self.filled = 1
            return
        i = self.n - 1
        if y < self.lo[i]:
            self.lo[i] = y
        if y > self.hi[i]:
            self.hi[i] = y
        self.filled += 1

    def _halve(self) -> None:
        h = self.n // 2
        self.t[:h] = self.t[0 : self.n : 2]
        self.lo[:h] = np.minimum(self.lo[0 : self.n : 2], self.lo[1 : self.n : 2])
        self.hi[:h] = np.maximum(self.hi[0 : self.n : 2], self.hi[1 : self.n : 2])
        self.n, self.stride = h, self.stride * 2

    def __len__(self) -> int:
        return self.n

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, lows, highs), each point's; exact samples while no point merged."""
        return self.t[: self.n], self.lo[: self.n], self.hi[: self.n]
