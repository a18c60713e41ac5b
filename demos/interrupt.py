"""SIGTERM handled as Ctrl-C, so that a command saves what it was writing before it ends.

A command that keeps what it captured (``capture``, ``play --tap``) runs its work inside
:func:`sigterm_as_interrupt`: the signal raises :class:`Terminated`, a KeyboardInterrupt,
whose ``finally`` blocks write the file; the command line then exits 143 (130 for Ctrl-C).

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


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


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
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (main thread only)."""
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
