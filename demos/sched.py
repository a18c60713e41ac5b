"""SCHED_FIFO for the application's threads, as a low-latency audio client runs them.

Counterpart: ``sched_setscheduler(2)``, as alsa-lib's ``test/latency --sched`` calls it,
and the scheduling every JACK client's process thread gets from a real-time server.

With 64-frame periods in a four-period ring, the writer has about 4 ms to refill after
each period's wake-up. At normal priority a busy host keeps it off the CPU longer than
that now and then, and the stream xruns, while the card's callback, which PortAudio
runs SCHED_FIFO, is never late. With two CPU hogs on this project's 2-core machine:
8 to 11 PCM xruns in 15 s at normal priority, none at SCHED_FIFO 4, three runs each
(``scripts/rt-threads.py --period 64 --seconds 15 --rt-priority 0`` or ``4``).

The policy is taken by the calling thread. Threads it starts inherit it, as POSIX
threads do by default: a session opened inside the block runs its card pacer (the
hardware and its interrupt) and its bottom-half worker at the same priority.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from demos.usage import UsageError


def priority_range() -> tuple[int, int]:
    """The SCHED_FIFO priorities this kernel has (1 to 99 on Linux)."""
    return os.sched_get_priority_min(os.SCHED_FIFO), os.sched_get_priority_max(os.SCHED_FIFO)


@contextmanager
def fifo_priority(priority: int | None) -> Iterator[None]:
    """Run the block with the calling thread at SCHED_FIFO ``priority`` (None: as it is),
    then give it back its own policy. UsageError where the machine does not allow it."""
    if priority is None:
        yield
        return
    lo, hi = priority_range()
    if not lo <= priority <= hi:
        raise UsageError(f"--rt-priority {priority}: SCHED_FIFO priorities are {lo} to {hi}")
    old = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        raise UsageError(f"--rt-priority {priority}: SCHED_FIFO is not allowed here "
                         "(EPERM: it needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO that "
                         "high)") from None
    try:
        yield
    finally:
        os.sched_setscheduler(0, *old)
