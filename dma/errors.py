"""Errors with the kernel's errno meaning.

Where the kernel returns ``-EINVAL`` the model raises ``DmaEngineError(EINVAL, ...)``:
an ``OSError`` whose ``errno`` is the kernel's and whose message names what was refused.
"""

from __future__ import annotations

import errno


class DmaEngineError(OSError):
    """A refused DMA engine call; ``.errno`` is the kernel's errno."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, f"{errno.errorcode.get(code, code)}: {message}")


def einval(message: str) -> DmaEngineError:
    return DmaEngineError(errno.EINVAL, message)
