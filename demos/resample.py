"""A polyphase resampler that takes its input a block at a time.

Counterpart: alsa-lib's rate plugin, in place; built on ``scipy.signal.resample_poly``.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import firwin


class StreamResampler:
    """``up/down`` over ``channels`` channels of float64 samples.

    Parameters
    ----------
    src_rate, dst_rate : the rates; the ratio is reduced by their gcd.
    channels : channels per frame.
    """

    def __init__(self, src_rate: int, dst_rate: int, channels: int) -> None:
        g = gcd(src_rate, dst_rate)
        self.up, self.down = dst_rate // g, src_rate // g
        up, down = self.up, self.down
        self.identity = up == down  # resample_poly copies: so does push
        max_rate = max(up, down, 2)
        half_len = 10 * max_rate
        h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
        pre_pad = down - half_len % down
        h = np.concatenate([np.zeros(pre_pad), h])
        self.pre_remove = (half_len + pre_pad) // down
        taps = -(-len(h) // up)
        h = np.concatenate([h, np.zeros(taps * up - len(h))])
        self.phases = h.reshape(taps, up).T  # phases[p, i] = h[p + i * up]
        self.taps = taps
        self.channels = channels
        self.buf = np.zeros((0, channels))  # input from absolute frame self.base on
        self.base = 0
        self.n_in = 0  # input frames pushed
        self.n_out = 0  # output frames given

    def _outputs(self, t0: int, t1: int) -> np.ndarray:
        """Kept outputs ``t0 .. t1 - 1``, from the input held (zeros outside it)."""
        m = np.arange(t0, t1, dtype=np.int64) + self.pre_remove
        pos = m * self.down
        phase, q = pos % self.up, pos // self.up
        k = q[:, None] - np.arange(self.taps)[None, :] - self.base  # into self.buf
        valid = (k >= 0) & (k < len(self.buf))
        x = self.buf[np.where(valid, k, 0)] * valid[:, :, None]
        return np.einsum("mi,mic->mc", self.phases[phase], x)

    def _ready(self) -> int:
        """Kept outputs whose every input frame has been pushed."""
        # output t needs input up to q = (t + pre_remove) * down // up
        last = (self.n_in - 1) * self.up // self.down - self.pre_remove  # q(t) <= n_in - 1
        while last >= 0 and (last + self.pre_remove) * self.down // self.up > self.n_in - 1:
            last -= 1
        return max(last + 1, 0)

    def push(self, x: np.ndarray) -> np.ndarray:
        """Input frames ``(n, channels)``; the output frames they complete."""
        if self.identity:
            return np.asarray(x, np.float64)
        self.buf = np.concatenate([self.buf, np.asarray(x, np.float64)])
        self.n_in += len(x)
        return self._emit(self._ready())

    def finish(self) -> np.ndarray:
        """The rest of the output: ``ceil(n_in * up / down)`` frames in all."""
        if self.identity:
            return np.zeros((0, self.channels))
        total = -(-self.n_in * self.up // self.down)
        return self._emit(total)

    def _emit(self, upto: int) -> np.ndarray:
        out = self._outputs(self.n_out, upto) if upto > self.n_out else np.zeros(
            (0, self.channels))
        self.n_out = max(self.n_out, upto)
        # keep only the input the next outputs can reach
        first = (self.n_out + self.pre_remove) * self.down // self.up - self.taps + 1
        drop = min(max(first - self.base, 0), len(self.buf))
        if drop:
            self.buf = self.buf[drop:]
            self.base += drop
        return out
