"""``dma-audio loopback``: play a test signal and capture it at the same time.

Both PCMs of the card run at once (one duplex stream to a sound device, or the virtual
card's loop). One thread feeds the playback and drains the capture with non-blocking
calls, sleeping on the clock until either has a period to move. The latency is where the
captured stream best matches the signal (``scipy.signal.correlate``); the signal came back
bit-exact when the captured frames from there on equal it, frame for frame. Both sides
go a chunk at a time, so memory does not grow with ``--seconds``.
"""

from __future__ import annotations

import errno
from typing import Any

import numpy as np

from demos.progress import StreamProgress
from demos.session import Session
from pcm import alsa
from pcm.errors import PcmError
from pcm.formats import FORMATS
from pcm.runtime import PcmStream


class NoiseSignal:
    """White noise at half the scale of ``fmt`` (a signed linear format), then ``margin``
    frames of silence: every frame distinct enough to align on, made a block at a time
    from (seed, block), so that any range is made again without keeping the whole."""

    BLOCK = 4096

    def __init__(self, frames: int, margin: int, channels: int, fmt: str = "S16_LE",
                 seed: int = 7) -> None:
        self.frames, self.total = frames, frames + margin
        self.channels, self.seed, self.format = channels, seed, FORMATS[fmt]

    def read(self, start: int, n: int) -> np.ndarray:
        """Frames ``start`` to ``start + n`` (silence past the noise's end)."""
        out = np.zeros((n, self.channels), self.format.dtype)
        stop = max(start, min(start + n, self.frames))
        half = 1 << (self.format.width - 2)
        for block in range(start // self.BLOCK, -(-stop // self.BLOCK)):
            lo = block * self.BLOCK
            rng = np.random.default_rng([self.seed, block])
            noise = rng.integers(-half, half, size=(self.BLOCK, self.channels))
            a, b = max(start, lo), min(stop, lo + self.BLOCK)
            out[a - start : b - start] = noise[a - lo : b - lo]
        return out


def find_latency(captured: np.ndarray, signal: np.ndarray) -> int:
    """The lag of ``signal`` in ``captured`` (channel 0), by cross-correlation; -1 if none."""
    from scipy.signal import correlate

    a = captured[:, 0].astype(np.float64)
    b = signal[:, 0].astype(np.float64)
    if not a.any() or len(a) < len(b):
        return -1
    c = correlate(a, b, mode="valid", method="fft")
    return int(np.argmax(c))


class CaptureCheck:
    """The captured stream against the signal, a chunk at a time: the latency from the
    first ``margin`` + one second of capture, then every frame from there compared as it
    comes."""

    def __init__(self, signal: NoiseSignal, rate: int) -> None:
        self.signal = signal
        self.window = min(signal.frames, rate)  # the signal's frames the latency is found on
        self.prefix_frames = signal.total - signal.frames + self.window
        self.prefix: list[np.ndarray] = []
        self.got = 0
        self.lag: int | None = None
        self.exact = True

    def feed(self, chunk: np.ndarray) -> None:
        if self.lag is None:
            self.prefix.append(chunk)
            self.got += len(chunk)
            if self.got >= self.prefix_frames:
                self._align()
            return
        self._compare(self.got, chunk)
        self.got += len(chunk)

    def _align(self) -> None:
        captured = np.concatenate(self.prefix)
        self.prefix = []
        self.lag = find_latency(captured, self.signal.read(0, self.window))
        self.exact = self.lag >= 0
        self._compare(0, captured)

    def _compare(self, at: int, chunk: np.ndarray) -> None:
        """Captured frames ``at`` onward against the signal's frames ``at - lag`` onward."""
        lag = self.lag or 0  # set by _align before any comparison
        lo, hi = max(at, lag), min(at + len(chunk), lag + self.signal.frames)
        if self.exact and hi > lo:
            self.exact = np.array_equal(chunk[lo - at : hi - at],
                                        self.signal.read(lo - lag, hi - lo))

    def result(self) -> tuple[int, bool]:
        """(the latency in frames, -1 if none; whether every frame came back)."""
        if self.lag is None:
            self._align()
        lag = self.lag or 0
        complete = self.got >= lag + self.signal.frames
        return lag, bool(self.exact and complete and lag >= 0)


def loopback(sess: Session, args: Any, say) -> dict:
    rate, ch, fmt = args.rate or 48000, args.channels or 2, args.format or "S16_LE"
    margin = rate // 2 + (sess.endpoint.latency_frames() if not sess.endpoint.is_virtual else 0)
    play = alsa.open_pcm("default", PcmStream.PLAYBACK, nonblock=True)
    cap = alsa.open_pcm("default", PcmStream.CAPTURE, nonblock=True)
    try:
        for pcm in (play, cap):
            pcm.set_params(fmt, ch, rate, args.period_size, args.buffer_size, args.periods)
        signal = NoiseSignal(int(rate * args.seconds), margin, ch, fmt)
        check = CaptureCheck(signal, rate)
        for pcm in (play, cap):
            pcm.prepare()
        cap.start()
        total = signal.total
        clock = sess.clock
        live = None
        if getattr(args, "live", False):
            from demos.live import snapshot

            def live(done: int, xruns: int):
                return snapshot(sess, play, xruns, xruns, "loopback (playback side)", done,
                                total)
        with StreamProgress(total, rate, enabled=getattr(args, "progress", True),
                            name="loopback", live=live) as prog:
            _loop(play, cap, signal, check, clock, prog)
    finally:
        for pcm in (play, cap):
            pcm.close()
    return _result(check, signal, rate, ch, fmt, say)


def _loop(play: alsa.Pcm, cap: alsa.Pcm, signal: NoiseSignal, check: CaptureCheck,
          clock: Any, prog: StreamProgress) -> None:
    """Write the signal and read as much back, each as far as it can, sleeping on the
    clock when neither can move."""
    prt, crt = play.runtime, cap.runtime
    period, total = prt.period_size, signal.total
    written, got = 0, 0
    while got < total:
        progressed = False
        if written < total:
            try:
                n = play.writei(signal.read(written, min(period, total - written)))
                written += n
                progressed = n > 0
            except PcmError as e:
                if e.errno != errno.EAGAIN:
                    raise
        try:
            data = cap.readi(min(period, total - got))
            if len(data):
                check.feed(data)
                got += len(data)
                progressed = True
                prog.update(got, prt.hw_avail() / prt.buffer_size, 0, got >= total)
        except PcmError as e:
            if e.errno != errno.EAGAIN:
                raise
        if not progressed:
            ok = clock.wait_until(
                lambda w=written: (w < total and prt.avail() >= period) or crt.avail() >= 1,
                5_000_000_000)
            if not ok:
                raise PcmError(errno.EIO, "loopback: no progress in 5 s (DMA or IRQ "
                               "trouble?)")


def _result(check: CaptureCheck, signal: NoiseSignal, rate: int, ch: int, fmt: str,
            say) -> dict:
    lag, exact = check.result()
    result = {"latency_frames": lag, "latency_ms": round(lag * 1000 / rate, 3),
              "bit_exact": exact, "frames": signal.frames, "format": fmt,
              "rate": rate, "channels": ch}
    say(f"latency {lag} frames ({result['latency_ms']} ms); signal came back "
        f"{'bit-exact' if exact else 'NOT bit-exact'}")
    return result
