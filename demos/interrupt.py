"""SIGTERM handled as Ctrl-C, so that a command saves what it was writing before it ends.

A command that keeps what it captured (``capture``, ``play --tap``) runs its work inside
:func:`sigterm_as_interrupt`: the signal raises :class:`Terminated`, a KeyboardInterrupt,
whose ``finally`` blocks write the file; the command line then exits 130.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (main thread only)."""
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
