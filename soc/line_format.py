"""The I2S word on the line and the samples a sound device takes: one conversion each way.

Line samples are int32 values of the I2S word. A device gets them as int16 for words of
16 bits or less, and as int32, left-justified, for longer words (exact for 24-in-32). A
float32 device (a JACK server) gets them scaled by a power of two (exact up to 24-bit
words).
"""

from __future__ import annotations

import numpy as np


def device_dtype(bits: int, float_device: bool = False) -> str:
    if float_device:
        return "float32"
    return "int16" if bits <= 16 else "int32"


def line_to_device(frames: np.ndarray, bits: int, float_device: bool = False) -> np.ndarray:
    if float_device:  # a power-of-two scale: exact in float32 up to 24-bit words
        return (frames.astype(np.float64) / (1 << (bits - 1))).astype(np.float32)
    if bits <= 16:
        return (frames << (16 - bits)).astype(np.int16)
    return (frames.astype(np.int32) << (32 - bits)).astype(np.int32)


def device_to_line(data: np.ndarray, bits: int, float_device: bool = False) -> np.ndarray:
    if data.dtype.kind == "f" or float_device:
        scaled = np.rint(data.astype(np.float64) * (1 << (bits - 1)))
        return np.clip(scaled, -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype(np.int32)
    shift = (16 if bits <= 16 else 32) - bits
    return data.astype(np.int32) >> shift
