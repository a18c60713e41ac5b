"""CPU hogs for real-time stress: threads that compete for the CPU and for the GIL."""

from __future__ import annotations

import os
import threading
import time

import numpy as np


class Hogs:
    def __init__(self, n: int, hold_items: int = 100_000, seed: int = 0) -> None:
        self.n = n
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        rng = np.random.default_rng(seed)
        self._items = rng.integers(0, 1 << 30, hold_items).tolist()
        self.gil_holds = 0

    def _run(self) -> None:
        # Ordinary load whatever its starter runs at: under --rt-priority it would inherit
        # SCHED_FIFO and preempt the very threads it is meant to compete with.
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        while not self._stop.is_set():
            end = time.perf_counter() + 0.01
            x = 0
            while time.perf_counter() < end:
                x += 1
            sorted(self._items)  # holds the GIL for the whole sort
            self.gil_holds += 1
            self._stop.wait(0.03)

    def start(self) -> None:
        self._stop.clear()
        for k in range(self.n):
            t = threading.Thread(target=self._run, name=f"hog-{k}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        self._threads.clear()
