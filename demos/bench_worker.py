"""One measurement of ``dma-audio bench``, in a process of its own.

``python -m demos.bench_worker KIND JSON`` runs one job (``stack``, ``floor``, ``skeleton``,
``rt-stack``, ``rt-bare``, ``rt-bare-app``, ``timing``) and prints its figures as JSON on the
last line (docs/design-notes.md).
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np

RATE, CHANNELS, PERIODS = 48000, 2, 4


def signal(seconds: float, seed: int = 1) -> np.ndarray:
    """S16_LE stereo noise at -20 dBFS; no frame is all zeros, so the output can be found
    in the card's tap (which holds zeros before the stream starts)."""
    rng = np.random.default_rng(seed)
    x = np.rint(rng.standard_normal((int(RATE * seconds), CHANNELS)) * 3000)
    x[x == 0] = 1
    return np.clip(x, -32768, 32767).astype("<i2")


def _args(period: int) -> Any:
    return types.SimpleNamespace(format=None, channels=None, rate=None, period_size=period,
                                 buffer_size=None, periods=PERIODS, verbose=False,
                                 progress=False)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _play(data: np.ndarray, period: int, tap: bool,
          dmac: str = "pl080") -> tuple[float, dict, Any]:
    """One offline play of ``data`` on the board with ``dmac``: (seconds, play's result,
    the tap or None)."""
    from demos.audiofile import Wav
    from demos.play import play_one
    from demos.session import open_session
    from soc.board import DMAC_IRQ

    sess = open_session("virtual", "virtual", tap=tap, dmac=dmac)
    try:
        irqs0 = sess.board.soc.irqc.count[DMAC_IRQ]
        t = time.perf_counter()
        res = play_one(sess, Wav(RATE, "S16_LE", data, "bench"), _args(period), lambda s: None)
        dt = time.perf_counter() - t
        res["irqs"] = sess.board.soc.irqc.count[DMAC_IRQ] - irqs0
        tapped = sess.endpoint.tapped() if tap else None
    finally:
        sess.close()
    return dt, res, tapped


def stack(period: int, seconds: float, dmac: str = "pl080") -> dict:
    """The whole model playing ``seconds`` of the bench's signal offline, on the board
    with ``dmac``. A first play with the card's tap checks the output sample for sample;
    a second, untapped (the tap keeps a copy of every frame, which is no part of the
    stack), is the one timed."""
    from soc.compiled import build

    data = signal(seconds)
    _, res, tap = _play(data, period, tap=True, dmac=dmac)
    start = int(np.flatnonzero(tap.any(axis=1))[0]) if tap.any() else 0
    played = tap[start : start + len(data)]
    # play's closing silence covers what the drain's stop flushes from the I2S FIFO
    exact = bool(np.array_equal(played, data))
    del tap, played
    dt, res2, _ = _play(data, period, tap=False, dmac=dmac)
    return {"seconds": dt, "periods": (len(data) + res2["padded"]) // period,
            "irqs": res2["irqs"], "exact": exact and res2["padded"] == res["padded"],
            "build": build(), "maxrss_mb": _maxrss_mb()}


def floor_copy(data: np.ndarray, period: int, fifo_frames: int = 16) -> np.ndarray:
    """The copies the stack makes, with no framework: a period of file frames into the
    ring, the ring slot through a FIFO-sized staging slice (whole periods at a time, as
    the model's vectorised hardware does) into the output buffer."""
    ring = np.zeros((period * PERIODS, data.shape[1]), data.dtype)
    fifo = np.zeros((period, data.shape[1]), data.dtype)
    out = np.empty_like(data)
    n = len(data) // period * period
    for pos in range(0, n, period):
        slot = pos % len(ring)
        ring[slot : slot + period] = data[pos : pos + period]
        fifo[:] = ring[slot : slot + period]
        out[pos : pos + period] = fifo
    out[n:] = data[n:]
    return out


def best_of(copy: Callable[[np.ndarray, int], np.ndarray], period: int, seconds: float,
            repeat: int = 3) -> dict:
    """``copy(data, period)`` timed ``repeat`` times on the bench's signal: the best time,
    and whether every run's output was its input."""
    data = signal(seconds)
    best, exact = float("inf"), True
    for _ in range(repeat):
        t = time.perf_counter()
        out = copy(data, period)
        best = min(best, time.perf_counter() - t)
        exact = exact and bool(np.array_equal(out, data))
    return {"seconds": best, "exact": exact, "maxrss_mb": _maxrss_mb()}


def floor(period: int, seconds: float, repeat: int = 3) -> dict:
    return best_of(floor_copy, period, seconds, repeat)


def skeleton_copy(data: np.ndarray, period: int, periods: int = PERIODS) -> np.ndarray:
    """The floor's copies driven by the stack's control flow alone: a ``writei`` that
    updates the pointer and waits for room by stepping the "hardware" a period at a
    time, each step an interrupt going down the stack's six levels (IRQ handler,
    virt-dma's completion, the dmaengine callback, ``snd_pcm_period_elapsed``, the hw_ptr
    update, the driver's pointer) as one call each: no registers, locks or states."""
    size = period * periods
    ring = np.zeros((size, data.shape[1]), data.dtype)
    fifo = np.zeros((period, data.shape[1]), data.dtype)
    out = np.empty_like(data)
    ptr = {"hw": 0, "appl": 0}

    def pointer() -> int:
        return ptr["hw"] % size

    def update_hw_ptr() -> int:
        return pointer()

    def period_elapsed() -> None:
        update_hw_ptr()

    def dma_complete() -> None:
        period_elapsed()

    def vchan_complete() -> None:
        dma_complete()

    def irq_handler() -> None:
        vchan_complete()

    def hw_step() -> None:
        hw = ptr["hw"]
        slot = hw % size
        fifo[:] = ring[slot : slot + period]
        out[hw : hw + period] = fifo
        ptr["hw"] = hw + period
        irq_handler()

    def writei(buf: np.ndarray) -> None:
        update_hw_ptr()
        while ptr["appl"] - ptr["hw"] >= size:
            hw_step()
        slot = ptr["appl"] % size
        ring[slot : slot + period] = buf
        ptr["appl"] += period

    n = len(data) // period * period
    for pos in range(0, n, period):
        writei(data[pos : pos + period])
    while ptr["hw"] < ptr["appl"]:
        hw_step()
    out[n:] = data[n:]
    return out


def skeleton(period: int, seconds: float, repeat: int = 3) -> dict:
    return best_of(skeleton_copy, period, seconds, repeat)


HOG = ("import os; os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))\n"
       "while True: pass")


@contextlib.contextmanager
def _hogs(n: int):
    """``n`` CPU hogs for the ``with`` block: processes that spin at normal priority,
    each wanting a whole core."""
    import subprocess

    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(10)


def rt_stack(device: int, period: int, seconds: float, rt_priority: int | None = None,
             hogs: int = 0) -> dict:
    """The full stack playing on the card clock, as ``dma-audio play --rt-priority``,
    beside ``hogs`` CPU hogs."""
    from demos.audiofile import Wav
    from demos.play import play_one
    from demos.sched import fifo_priority
    from demos.session import open_session

    data = signal(seconds)
    with _hogs(hogs), fifo_priority(rt_priority):  # the session's threads inherit it
        sess = open_session(str(device), "card")
        try:
            wall, cpu = time.monotonic(), time.process_time()
            res = play_one(sess, Wav(RATE, "S16_LE", data, "bench"), _args(period),
                           lambda s: None)
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            card = sess.endpoint.far_end or sess.endpoint.last_far_end
            underflows = card.stats.output_underflows
            pacer = card.pacer
            bh = dict(sess.board.soc.cpu.runs)  # a card's clock is real time: a RealtimeCpu
        finally:
            sess.close()
    return {"wall_s": wall, "cpu_s": cpu, "xruns": res["xruns"] + underflows,
            "pcm_xruns": res["xruns"], "card_underflows": underflows,
            "callbacks": card.stats.callbacks,
            "pacer_events": pacer.events if pacer else None,
            "catch_ups": pacer.catch_ups if pacer else None,
            "bh_at_irq_exit": bh["irq_exit"], "bh_on_worker": bh["worker"]}


def bare_copy(data: np.ndarray, pos: int, ring: np.ndarray, fifo: np.ndarray,
              out: np.ndarray) -> int:
    """The bare callback's copies for one block of ``out``, from file frame ``pos``: a
    period slot at a time (``fifo`` is a period long), file -> ring -> staging slice ->
    ``out`` as float32; zeros after the end. Returns the file position after the block."""
    period, frames, got = len(fifo), len(out), 0
    while got < frames and pos < len(data):
        n = min(frames - got, len(data) - pos, period - pos % period)  # within one slot
        slot = pos % len(ring)
        ring[slot : slot + n] = data[pos : pos + n]
        fifo[:n] = ring[slot : slot + n]
        out[got : got + n] = fifo[:n] * (1.0 / 32768)
        pos, got = pos + n, got + n
    out[got:] = 0
    return pos


def rt_bare(device: int, period: int, seconds: float, blocksize: int = 0,
            hogs: int = 0) -> dict:
    """A bare sounddevice callback making the floor's copies, a period slot at a time:
    file frames into a 4-period ring, the ring slot through a staging slice, into
    PortAudio's buffer (float32 on JACK, as the card's own stream).

    ``blocksize`` 0, the default, opens the stream as the stack's card opens its own (the
    server's cycle, 256 frames on the bench's JACK), so the two make as many callbacks;
    ``blocksize=period`` gives one callback a period (PortAudio regroups the cycles)."""
    import sounddevice as sd

    data = signal(seconds)
    ring = np.zeros((period * PERIODS, CHANNELS), data.dtype)
    fifo = np.zeros((period, CHANNELS), data.dtype)
    state = {"pos": 0, "underflows": 0, "callbacks": 0}
    done = threading.Event()

    def callback(outdata, frames, t, status) -> None:
        if status.output_underflow:
            state["underflows"] += 1
        state["callbacks"] += 1
        state["pos"] = bare_copy(data, state["pos"], ring, fifo, outdata)
        if state["pos"] >= len(data):
            done.set()

    wall, cpu = time.monotonic(), time.process_time()
    with _hogs(hogs), sd.OutputStream(device=device, samplerate=RATE, channels=CHANNELS,
                                      dtype="float32", blocksize=blocksize,
                                      callback=callback):
        done.wait(seconds * 3 + 10)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "xruns": state["underflows"],
            "frames": state["pos"], "callbacks": state["callbacks"]}


class BareApp:
    """The bare copies in an ALSA application's shape, with no model: a writer thread puts
    file frames into a 4-period ring a period at a time, the callback takes them out a
    period slot at a time through a staging slice, and each period the callback consumes
    wakes an "interrupt" thread, which wakes the writer. It prices the threads the stack
    has and the bare callback has not: what is left of the stack's CPU above it is the
    model's path (the kernel's interrupt, bottom half and hw_ptr update) in Python."""

    def __init__(self, data: np.ndarray, period: int) -> None:
        self.data, self.period = data, period
        self.ring = np.zeros((period * PERIODS, data.shape[1]), data.dtype)
        self.fifo = np.zeros((period, data.shape[1]), data.dtype)
        self.hw = self.appl = 0  # frames the callback took, frames the writer put
        self.underruns = 0  # callbacks that found fewer frames queued than they needed

    def write_period(self) -> bool:
        """The writer: the next period (or the file's rest) into the ring, if it has
        room for it; False when it has not, or when the file is all written."""
        n = min(self.period, len(self.data) - self.appl)
        if n <= 0 or self.appl + n - self.hw > len(self.ring):
            return False
        slot = self.appl % len(self.ring)
        self.ring[slot : slot + n] = self.data[self.appl : self.appl + n]
        self.appl += n
        return True

    def take(self, out: np.ndarray) -> bool:
        """The callback: queued frames into ``out`` as float32, zeros after them; True
        when it crossed a period boundary (the "interrupt")."""
        hw, period, frames = self.hw, self.period, len(out)
        k = min(frames, self.appl - hw)
        if k < frames and self.appl < len(self.data):
            self.underruns += 1
        got = 0
        while got < k:
            n = min(k - got, period - hw % period)  # within one slot
            slot = hw % len(self.ring)
            self.fifo[:n] = self.ring[slot : slot + n]
            out[got : got + n] = self.fifo[:n] * (1.0 / 32768)
            got, hw = got + n, hw + n
        out[got:] = 0
        crossed = hw // period != self.hw // period
        self.hw = hw
        return crossed


def rt_bare_app(device: int, period: int, seconds: float, rt_priority: int | None = None
                ) -> dict:
    """:class:`BareApp` on a sounddevice stream opened as the card's (blocksize 0), its
    writer and "interrupt" threads at ``rt_priority`` as the stack's are."""
    import sounddevice as sd

    from demos.sched import fifo_priority

    app = BareApp(signal(seconds), period)
    total = len(app.data)
    room = threading.Condition()  # the writer sleeps on it, as on the clock's condition
    irq = threading.Event()  # the callback kicks the interrupt thread, as the pacer
    done = threading.Event()
    state = {"underflows": 0, "callbacks": 0, "interrupts": 0}

    def callback(outdata, frames, t, status) -> None:
        if status.output_underflow:
            state["underflows"] += 1
        state["callbacks"] += 1
        if app.take(outdata):
            irq.set()
        if app.hw >= total:
            done.set()

    def interrupt() -> None:
        while not done.is_set():
            if irq.wait(0.05):
                irq.clear()
                state["interrupts"] += 1
                with room:
                    room.notify_all()

    def writer() -> None:  # full ring: sleep, checking under the lock the notify takes
        with room:
            while app.appl < total and not done.is_set():
                if not app.write_period():
                    room.wait(0.05)

    wall, cpu = time.monotonic(), time.process_time()
    while app.write_period():  # prefilled, as a start_threshold of a whole buffer
        pass
    threads = [threading.Thread(target=f, daemon=True) for f in (interrupt, writer)]
    with fifo_priority(rt_priority):  # the threads inherit it
        for th in threads:
            th.start()
    with sd.OutputStream(device=device, samplerate=RATE, channels=CHANNELS, dtype="float32",
                         blocksize=0, callback=callback):
        done.wait(seconds * 3 + 10)
    done.set()
    for th in threads:
        th.join()
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "xruns": state["underflows"] + app.underruns,
            "underruns": app.underruns, "frames": app.hw, "callbacks": state["callbacks"],
            "interrupts": state["interrupts"]}


def timing(device: int, seconds: int = 4) -> dict:
    """pcm-test's time check: ``seconds`` of audio written a second at a time with writei,
    then drain; the elapsed time from the first write to the end of drain."""
    from demos.session import open_session
    from pcm import alsa
    from pcm.runtime import PcmStream

    data = signal(seconds)
    sess = open_session(str(device), "card")
    try:
        pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
        try:
            pcm.set_params("S16_LE", CHANNELS, RATE, None, None, PERIODS)
            pcm.prepare()
            t = time.monotonic()
            for k in range(seconds):
                pcm.writei(data[k * RATE : (k + 1) * RATE])
            pcm.drain()
            ms = (time.monotonic() - t) * 1000
            rt = pcm.runtime
            geometry = (rt.period_size, rt.buffer_size)
        finally:
            pcm.close()
    finally:
        sess.close()
    return {"ms": ms, "period_size": geometry[0], "buffer_size": geometry[1]}


def rss(argv: list[str]) -> dict:
    """``dma-audio ARGV`` in this process; its peak resident memory."""
    from demos.cli import main as cli_main

    rc = cli_main(argv)
    if rc != 0:
        raise RuntimeError(f"dma-audio {' '.join(argv[:1])} exited {rc}")
    return {"peak_mb": _maxrss_mb()}


JOBS = {"stack": stack, "floor": floor, "skeleton": skeleton, "rt-stack": rt_stack,
        "rt-bare": rt_bare, "rt-bare-app": rt_bare_app, "timing": timing, "rss": rss}


def main(argv: list[str]) -> int:
    kind, kw = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    print(json.dumps(JOBS[kind](**kw)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
