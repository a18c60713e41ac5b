"""Errors with the kernel's errno meaning, for the PCM layer.

Where pcm_native.c returns ``-EBADFD`` the model raises ``PcmError(EBADFD, ...)``: an
``OSError`` whose ``errno`` is the kernel's and whose message says what was refused and in
which state. A hw_params refusal is a :class:`ParamError` that names the parameter.
"""

from __future__ import annotations

import errno


class PcmError(OSError):
    """A refused PCM call; ``.errno`` is the kernel's errno."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, f"{errno.errorcode.get(code, code)}: {message}")


class ParamError(PcmError):
    """EINVAL from hw_params/sw_params; ``.param`` is the parameter that cannot be met."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(errno.EINVAL, message)
        self.param = param
