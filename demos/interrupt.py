"""SIGTERM handled as Ctrl-C, so that a command saves what it was writing before it ends.

The command line's handler (:func:`raise_interrupt`) makes SIGTERM raise
:class:`Terminated`, a KeyboardInterrupt, whose ``finally`` blocks write the files; the
command line then exits 143 (130 for Ctrl-C).

A command that runs until told (``dmatest --iterations 0``) asks :func:`stop_requested`
between steps instead: Ctrl-C and SIGTERM only set a flag, so a step is never cut short.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


received: list[int] = []  # the signals raise_interrupt was given, in order


def raise_interrupt(signum: int, frame: Any) -> None:
    """The command line's handler: SIGTERM raises :class:`Terminated`, SIGINT a plain
    KeyboardInterrupt; either unwinds through the ``finally`` blocks that save. A
    signal that lands in an extension module's import comes out as that import's error:
    ``received`` still tells the command line that it was the signal."""
    received.append(signum)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


@contextmanager
def stop_requested() -> Iterator[Callable[[], bool]]:
    """Within the block Ctrl-C and SIGTERM set a flag, which the yielded function reads
    (main thread only)."""
    asked: list[int] = []

    def note(signum: int, frame: Any) -> None:
        asked.append(signum)

    old = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(asked)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM within the block are delivered as it ends (main thread): data
    taken from one place is never lost before it reaches the next."""
    asked: list[int] = []

    def note(signum: int, frame: Any) -> None:
        asked.append(signum)

    old = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if asked:
            signal.raise_signal(asked[0])
