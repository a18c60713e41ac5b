"""The interpreter's switch interval, held short while a sound device's callback runs."""

from __future__ import annotations

import sys
import threading


class SwitchInterval:
    """The interpreter's switch interval, held at most ``limit_s`` while a card runs.

    The card's callback runs on PortAudio's thread and must take the GIL from whichever
    of the model's threads holds it (the pacer in a step, the writer in ``writei``).
    CPython lets a thread that wants the GIL wait up to the switch interval before it
    makes the holder let go: 5 ms by default, nearly a whole 256-frame JACK cycle. The
    callback waits so at its start and again wherever it lets the GIL go inside (a lock
    it blocks on, a numpy copy). 1 ms bounds each wait; the holder is interrupted that
    often only while another thread waits. Counted, so nested holders restore it once.
    """

    def __init__(self, limit_s: float = 0.001) -> None:
        self.limit_s = limit_s
        self._holders = 0
        self._saved = 0.0
        self._lock = threading.Lock()

    def hold(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, self.limit_s))
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                sys.setswitchinterval(self._saved)


switch_interval = SwitchInterval()
