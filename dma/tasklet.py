"""Tasklets: deferred work that runs once however often it was scheduled.

Counterpart: kernel/softirq.c. ``schedule`` on a tasklet that is already scheduled
does nothing, which is why virt-dma coalesces several period interrupts into one
callback when the bottom half is late. ``kill`` lets a scheduled run happen (now) and
then guarantees the function is not running and not scheduled.

The CPU that runs it is the board's bottom-half executor, handed in by the driver
(anything with ``defer(fn) -> handle`` and ``cancel(handle)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class BottomHalfExecutor(Protocol):
    def defer(self, fn: Callable[[], None]) -> Any: ...

    def cancel(self, handle: Any) -> None: ...


class Tasklet:
    def __init__(self, fn: Callable[[], None], cpu: BottomHalfExecutor) -> None:
        self.fn = fn
        self.cpu = cpu
        self.scheduled = False
        self.runs = 0
        self._handle: Any = None

    def schedule(self) -> None:
        if self.scheduled:
            return
        self.scheduled = True
        self._handle = self.cpu.defer(self._run)

    def _run(self) -> None:
        self.scheduled = False
        self._handle = None
        self.runs += 1
        self.fn()

    def kill(self) -> None:
        """``tasklet_kill``: a pending run happens now; none is pending afterwards."""
        if self.scheduled:
            self.cpu.cancel(self._handle)
            self._run()
