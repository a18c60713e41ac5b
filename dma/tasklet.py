"""Tasklets: deferred work that runs once however often it was scheduled.

Counterpart: kernel/softirq.c. ``schedule`` on a tasklet that is already scheduled
does nothing, which is why virt-dma coalesces several period interrupts into one
callback when the bottom half is late. ``kill`` lets a scheduled run happen (now) and
then guarantees the function is not running and not scheduled.

The CPU that runs it is the board's bottom-half executor, handed in by the driver
(anything with ``defer(fn) -> handle`` and ``cancel(handle)``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class BottomHalfExecutor(Protocol):
    def defer(self, fn: Callable[[], None]) -> Any: ...

    def cancel(self, handle: Any) -> None: ...


class Tasklet:
    def __init__(self, fn: Callable[[], None], cpu: BottomHalfExecutor,
                 lock: Any = None) -> None:
        self.fn = fn
        self.cpu = cpu
        self.scheduled = False
        self.running: int | None = None  # the thread running it
        self.runs = 0
        self._handle: Any = None
        self._lock = lock if lock is not None else threading.Lock()

    def schedule(self) -> None:
        with self._lock:
            if self.scheduled:
                return
            self.scheduled = True
            self._handle = self.cpu.defer(self._run)

    def _take(self) -> bool:
        with self._lock:
            if not self.scheduled:
                return False  # killed: it already ran
            self.scheduled = False
            self._handle = None
            self.running = threading.get_ident()
            return True

    def _run(self) -> None:
        if not self._take():
            return
        try:
            self.runs += 1
            self.fn()
        finally:
            self.running = None

    def kill(self) -> None:
        """``tasklet_kill``: a pending run happens now; none is pending or running after."""
        with self._lock:
            handle = self._handle if self.scheduled else None
        if handle is not None:
            self.cpu.cancel(handle)
            self._run()
        while self.running is not None and self.running != threading.get_ident():
            time.sleep(0.0002)  # tasklet_unlock_wait
