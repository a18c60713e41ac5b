"""``dma-audio loopback``: play a test signal and capture it at the same time.

Both PCMs of the card run at once (one duplex stream to a sound device, or the virtual
card's loop). One thread feeds the playback and drains the capture with non-blocking
calls, sleeping on the clock until either has a period to move. The latency is where the
captured stream best matches the signal (``scipy.signal.correlate``); the signal came back
bit-exact when the captured frames from there on equal it, frame for frame.
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


def noise_signal(rate: int, channels: int, seconds: float, fmt: str = "S16_LE",
                 seed: int = 7) -> np.ndarray:
    """White noise at half the scale of ``fmt`` (a signed linear format): every frame
    distinct enough to align on."""
    f = FORMATS[fmt]
    half = 1 << (f.width - 2)
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    return rng.integers(-half, half, size=(n, channels)).astype(f.dtype)


def find_latency(captured: np.ndarray, signal: np.ndarray) -> int:
    """The lag of ``signal`` in ``captured`` (channel 0), by cross-correlation; -1 if none."""
    from scipy.signal import correlate

    a = captured[:, 0].astype(np.float64)
    b = signal[:, 0].astype(np.float64)
    if not a.any() or len(a) < len(b):
        return -1
    c = correlate(a, b, mode="valid", method="fft")
    return int(np.argmax(c))


def loopback(sess: Session, args: Any, say) -> dict:
    rate, ch, fmt = args.rate or 48000, args.channels or 2, args.format or "S16_LE"
    margin = rate // 2 + (sess.endpoint.latency_frames() if not sess.endpoint.is_virtual else 0)
    play = alsa.open_pcm("default", PcmStream.PLAYBACK, nonblock=True)
    cap = alsa.open_pcm("default", PcmStream.CAPTURE, nonblock=True)
    try:
        for pcm in (play, cap):
            pcm.set_params(fmt, ch, rate, args.period_size, args.buffer_size, args.periods)
        signal = noise_signal(rate, ch, args.seconds, fmt)
        for pcm in (play, cap):
            pcm.prepare()
        cap.start()
        out = np.concatenate([signal, np.zeros((margin, ch), signal.dtype)])
        total = len(out)
        clock = sess.clock
        live = None
        if getattr(args, "live", False):
            from demos.live import snapshot

            def live(done: int, xruns: int):
                return snapshot(sess, play, xruns, xruns, "loopback (playback side)", done,
                                total)
        with StreamProgress(total, rate, enabled=getattr(args, "progress", True),
                            name="loopback", live=live) as prog:
            _, chunks = _loop(play, cap, out, clock, prog)
        captured = np.concatenate(chunks)
    finally:
        for pcm in (play, cap):
            pcm.close()
    return _result(captured, signal, rate, ch, fmt, say)


def _loop(play: alsa.Pcm, cap: alsa.Pcm, out: np.ndarray, clock: Any,
          prog: StreamProgress) -> tuple[int, list[np.ndarray]]:
    """Write ``out`` and read as much back, each as far as it can, sleeping on the clock
    when neither can move."""
    prt, crt = play.runtime, cap.runtime
    period, total = prt.period_size, len(out)
    written, chunks, got = 0, [], 0
    while got < total:
        progressed = False
        if written < total:
            try:
                n = play.writei(out[written : written + period])
                written += n
                progressed = n > 0
            except PcmError as e:
                if e.errno != errno.EAGAIN:
                    raise
        try:
            data = cap.readi(min(period, total - got))
            if len(data):
                chunks.append(data)
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
    return got, chunks


def _result(captured: np.ndarray, signal: np.ndarray, rate: int, ch: int, fmt: str,
            say) -> dict:
    lag = find_latency(captured, signal)
    exact = lag >= 0 and np.array_equal(captured[lag : lag + len(signal)], signal)
    result = {"latency_frames": lag, "latency_ms": round(lag * 1000 / rate, 3),
              "bit_exact": bool(exact), "frames": int(len(signal)), "format": fmt,
              "rate": rate, "channels": ch}
    say(f"latency {lag} frames ({result['latency_ms']} ms); signal came back "
        f"{'bit-exact' if exact else 'NOT bit-exact'}")
    return result
