"""``dma-audio stress``: a playback (optionally duplex) stream under scripted faults.

Counterpart: none in the kernel; a poll-based player under faults from :mod:`soc.faults`.
The modes (``--on-xrun stop|run|silence``) and the loop: docs/design-notes.md.
"""

from __future__ import annotations

import errno
import math
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from demos.glitch_stream import MATCHABLE, StreamAnalyser, matchable_stream
from demos.glitches import Analysis
from demos.hogs import Hogs
from demos.interrupt import Terminated, signals_deferred
from demos.plug import plan
from demos.progress import StreamProgress
from demos.series import Series
from demos.session import Session
from demos.stress_source import Glide, to_hardware
from demos.usage import UsageError
from pcm import alsa
from pcm.errors import PcmError
from pcm.formats import BY_NUMBER, FORMATS, silence
from pcm.runtime import PcmState, PcmStream
from soc.board import DMAC_IRQ, I2S_TX_REQUEST
from soc.clock import frame_at_ns
from soc.faults import FaultInjector, TcWatch

MODES = ("stop", "run", "silence")
NS = 1_000_000_000


@dataclass
class Window:
    """A fault window, in seconds of stream time."""

    at: float
    duration: float

    @classmethod
    def parse(cls, text: str, what: str) -> Window:
        try:
            at, dur = (float(x) for x in text.split(":"))
        except ValueError:
            raise UsageError(f"{what} {text!r}: expected AT:DURATION in seconds") from None
        if not (math.isfinite(at) and math.isfinite(dur)) or at < 0 or dur <= 0:
            raise UsageError(f"{what} {text!r}: AT must be >= 0 and DURATION > 0, both "
                             "finite")
        return cls(at, dur)

    def ns(self) -> tuple[int, int]:
        return round(self.at * NS), round((self.at + self.duration) * NS)


@dataclass
class Faults:
    stalls: list[Window] = field(default_factory=list)
    jitter_ms: float = 0.0
    seed: int = 0
    hogs: int = 0
    irq_latency_ms: float = 0.0
    lose_irqs: float = 0.0
    bus_error_at: float | None = None
    dma_starve: list[Window] = field(default_factory=list)
    unplug_at: float | None = None

    def check(self, duration: float, realtime: bool) -> None:
        for w in self.stalls + self.dma_starve:
            if w.at + w.duration > duration:
                raise UsageError(f"stall or DMA starvation {w.at:g}:{w.duration:g} ends after "
                                 f"the stream ({duration:g} s)")
        if self.bus_error_at is not None and not 0 <= self.bus_error_at < duration:
            raise UsageError(f"--bus-error {self.bus_error_at:g} is not within the stream "
                             f"(0..{duration:g} s)")
        if self.unplug_at is not None and not 0 <= self.unplug_at < duration:
            raise UsageError(f"--unplug {self.unplug_at:g} is not within the stream "
                             f"(0..{duration:g} s)")
        if self.jitter_ms < 0 or self.irq_latency_ms < 0:
            raise UsageError("--jitter and --irq-latency must not be negative")
        if not 0 <= self.lose_irqs <= 1:
            raise UsageError("--lose-irqs must be between 0 and 1")
        if self.hogs and not realtime:
            raise UsageError("--hog needs real time (--clock card or wall): on the virtual "
                             "clock a busy CPU takes no stream time")


def stress_signal(rate: int, channels: int, seconds: float, seed: int = 1) -> np.ndarray:
    """The whole stress signal (:class:`demos.stress_source.Glide`), S16_LE."""
    g = Glide(rate, channels, seconds, seed)
    return g.read(0, g.length)


@dataclass
class Event:
    kind: str  # xrun, underrun, eio, fifo_underrun, card_underflow, capture_overrun
    at_ns: int
    frame: int  # where it shows in the output (tap or capture), in frames
    detail: str = ""

    def as_dict(self, t0_ns: int = 0) -> dict:
        """With ``at_s`` in seconds into the signal (clock time less ``t0_ns``)."""
        return {"kind": self.kind, "at_s": round((self.at_ns - t0_ns) / NS, 6),
                "frame": self.frame, "detail": self.detail}


@dataclass
class Probe:
    """What the tracepoints and the DMA's TC probe saw during a run."""

    clock: Any
    tc_ns: deque = field(default_factory=deque)
    tcs: int = 0
    callbacks: int = 0
    max_irq_latency_ns: int = 0
    fill: Series = field(default_factory=Series)  # (ns, hw_avail) at each update
    irq_marks: Series = field(default_factory=Series)  # (ns, 0) at each period's end
    pcm: Any = None
    # (ns, frames the DMA has delivered to the I2S FIFO), sampled on the hardware clock
    # every quarter period whatever the interrupts do: a dead DMA shows as a flat line
    dma: Series = field(default_factory=Series)
    sampling: bool = True

    def sample_dma(self, i2s: Any, every_ns: int) -> None:
        """Sample the DMA's progress now and every ``every_ns`` (a clock event; it reads
        hardware counters only, so it takes no driver lock)."""
        if not self.sampling:
            return
        fb = i2s._tx_fb or 1
        self.dma.append(self.clock.now_ns, i2s.tx.moved // fb)
        self.clock.call_later(every_ns, lambda: self.sample_dma(i2s, every_ns))

    def on_tc(self, now_ns: int) -> None:
        if self.pcm is None:
            return
        if self.pcm.state not in (PcmState.RUNNING, PcmState.DRAINING):
            return
        self.tcs += 1
        self.tc_ns.append(now_ns)
        self.irq_marks.append(now_ns, 0)

    def on_trace(self, event: str, ss: Any, f: dict) -> None:
        now = self.clock.now_ns
        rt = ss.runtime
        if event != "hwptr_updated":
            return
        self.fill.append(now, rt.buffer_size - rt.avail())
        if f["in_interrupt"]:
            self.callbacks += 1
            first = None
            while self.tc_ns and self.tc_ns[0] <= now:
                t = self.tc_ns.popleft()
                first = t if first is None else first
            if first is not None:
                self.max_irq_latency_ns = max(self.max_irq_latency_ns, now - first)


@dataclass
class Result:
    summary: dict
    events: list[Event]
    analysis: Analysis | None
    probe: Probe
    stalls: list[Window]
    rate: int
    t0_ns: int = 0  # clock time at which the signal began (stall times count from it)
    faults: Faults | None = None  # the plan
    injected: list[tuple[float, str]] = field(default_factory=list)  # (s, what) as fired

    def seconds(self, t_ns: int) -> float:
        """Clock time as seconds into the signal, the report's one time axis."""
        return (t_ns - self.t0_ns) / NS


class WriterState(Enum):
    WRITING = "writing"  # frames left to write
    STARVED = "starved"  # frames left, and the ring had no room at the last attempt
    DRAINING = "draining"  # everything written; the drain has not ended
    DONE = "done"  # drained, or the drain timed out


@dataclass
class Writer:
    """The poll-based writer: where it is in what it writes, and what holds it."""

    total: int  # frames to write: the lead, the input, a period of silence
    pos: int = 0
    state: WriterState = WriterState.WRITING
    hold_until: int = 0  # no write before this clock time (--jitter)
    starved_since: int = 0  # STARVED: since when the ring has had no room
    drain_hw: int = -1  # DRAINING: hw_ptr at the last check, and since when
    drain_since: int = 0
    drained_at: int = 0  # the bit-clock frame at the last drain call

    @property
    def writing(self) -> bool:
        return self.state in (WriterState.WRITING, WriterState.STARVED)


@dataclass
class RunStats:
    """What a run measured besides its events: for the summary."""

    length: int  # input frames
    written: int  # frames written, the lead and the closing silence included
    wall_s: float
    cpu_s: float
    irqs: int
    lost_irqs: int


class Stress:
    """One stress run on an open session."""

    def __init__(self, sess: Session, src: Any, args: Any, faults: Faults, say,
                 tap: Any = None) -> None:
        """``src``: what to play, read by range (``format``, ``channels``, ``rate``,
        ``length``, ``read(first, n)``: :mod:`demos.stress_source`); ``tap``: where the
        output goes as it comes (:class:`demos.play.TapWriter`), or None."""
        self.sess, self.src, self.args, self.faults, self.say = sess, src, args, faults, say
        self.tap = tap
        self.hw_src: Any = src  # the source in the hardware's format (converted if need be)
        self.clock = sess.clock
        self.i2s = sess.board.soc.hw["i2s0"]
        self.events: list[Event] = []
        self.recoveries = 0
        self.rng = np.random.default_rng(faults.seed)
        self.ended_by = "end of data"
        self.interrupted: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM, once saved
        self.before_start: Any = None  # fn(runtime) once the geometry is known
        self.lead = 0
        self.injector: FaultInjector | None = None
        self.out_origin_ns = 0  # the clock time of the output's frame 0 (tap or capture)
        self.t0 = 0  # clock time at which the signal began

    def _output_ns(self, frame: int) -> int:
        """The clock time of an output frame (tap or capture)."""
        return self.out_origin_ns + frame * NS // self.i2s.rate

    def _frame(self, t_ns: int) -> int:
        """The output frame (tap or capture) that the bit clock reached at ``t_ns``."""
        return frame_at_ns(max(t_ns - self.out_origin_ns, 0), self.i2s.rate)

    def _event(self, kind: str, at_ns: int, detail: str = "") -> None:
        self.events.append(Event(kind, at_ns, self._frame(at_ns), detail))
        self.say(f"{kind} at {at_ns / NS:.3f} s{': ' + detail if detail else ''}")

    # -- setting up --

    def _open(self) -> tuple[Any, Any]:
        a, w = self.args, self.src
        play = alsa.open_pcm("default", PcmStream.PLAYBACK, nonblock=True)
        cap = None
        try:
            space = play.hw_params_any()
            p = plan(space, a.format or w.format, a.channels or w.channels, a.rate or w.rate,
                     (w.format, w.channels, w.rate), play.rate_near)
            if p.notes:  # converted once, into a file the run reads as it goes
                self.say(f"plug: {'; '.join(p.notes)}")
                self.hw_src = to_hardware(w, p)
            play.set_params(p.format, p.channels, p.rate, a.period_size, a.buffer_size,
                            a.periods)
            rt = play.runtime
            sw: dict[str, int] = {"start_threshold": rt.buffer_size}
            if a.on_xrun in ("run", "silence"):
                sw["stop_threshold"] = rt.boundary
            if a.on_xrun == "silence":
                sw.update(silence_threshold=0, silence_size=rt.boundary)
            play.sw_params(**sw)
            if a.duplex:
                cap = alsa.open_pcm("default", PcmStream.CAPTURE, nonblock=True)
                cap.set_params(p.format, p.channels, p.rate, rt.period_size, rt.buffer_size,
                               None)
            if a.verbose:
                self.say(play.dump_setup().rstrip())
        except BaseException:
            for pcm in (play, cap):
                if pcm is not None:
                    pcm.close()
            raise
        return play, cap

    def _arm(self, play: Any, probe: Probe, t0: int) -> None:
        f, soc = self.faults, self.sess.board.soc
        inj = self.injector = FaultInjector(soc)
        inj.irq_latency(round(f.irq_latency_ms * 1e6))
        inj.lose_interrupts(f.lose_irqs, f.seed + 1)
        if f.bus_error_at is not None:
            ss = play.substream
            inj.bus_error(t0 + round(f.bus_error_at * NS), ss.dma_addr, ss.dma_bytes)
        for w in f.dma_starve:
            inj.starve(t0 + round(w.at * NS), round(w.duration * NS), I2S_TX_REQUEST)
        if f.unplug_at is not None:
            self.clock.schedule(t0 + round(f.unplug_at * NS), self._unplug)
        self.tc_watch = TcWatch(soc, probe.on_tc)
        rt = play.substream.runtime
        probe.sample_dma(self.i2s, max(rt.period_size * NS // rt.rate // 4, 1))
        play.substream.tracepoints.append(probe.on_trace)

    def _unplug(self) -> None:
        """The far end goes away, as a lost sound device does: the card is disconnected.
        In real time this is a clock event on the card's thread, which must not wait: the
        unplug runs in a thread of its own, as a lost device's does."""
        from soc.sound_device import DeviceError

        ep = self.sess.endpoint
        err = DeviceError(f"unplugged at {self.faults.unplug_at:g} s (--unplug)")
        if self.clock.realtime:
            threading.Thread(target=ep.lose, args=(err,), name="card-lost", daemon=True).start()
        else:
            ep.lose(err)

    # -- the loop --

    def _progress(self, play: Any, writer: Writer) -> StreamProgress:
        """The live view (``--live``), else nothing: the report follows the run."""
        live = None
        if getattr(self.args, "live", False):
            from demos.live import snapshot

            def live(done: int, xruns: int):
                return snapshot(self.sess, play, xruns, self.recoveries, "stress", done,
                                writer.total)
        return StreamProgress(writer.total, play.runtime.rate, enabled=live is not None,
                              name="stress", live=live)

    def run(self) -> Result:
        play, cap = self._open()
        try:
            return self._run(play, cap)
        finally:
            if self.hw_src is not self.src:
                self.hw_src.close()

    def _run(self, play: Any, cap: Any) -> Result:
        rt = play.runtime
        if self.before_start is not None:
            self.before_start(rt)
        period, buffer = rt.period_size, rt.buffer_size
        fmt = FORMATS[play.substream.format.name]
        self.silence = silence(fmt, period, rt.channels).view(fmt.dtype).reshape(
            period, rt.channels)
        # On a sound server a duplex run opens with a second of silence: time to make the
        # loop from its output to its input (jack_connect) before the signal comes.
        self.lead = 0 if self.sess.endpoint.is_virtual or cap is None else rt.rate
        length = self.hw_src.length
        writer = Writer(self.lead + length + period)
        self.horizon = 4 * buffer + rt.rate // 2  # how far a glitch may move the output
        # the output (tap or capture) goes to a file as it comes; the analysis reads it
        # after the run, so that the loop keeps time and memory stays flat
        self.spool = tempfile.TemporaryFile(prefix="dma-audio-stress-")
        self.heard = 0  # output frames spooled
        probe = Probe(self.clock, pcm=play)
        self.tc_watch: TcWatch | None = None
        soc = self.sess.board.soc
        self.sess.endpoint.clear_tap()
        self.out_origin_ns = self.clock.now_ns
        hogs = Hogs(self.faults.hogs) if self.faults.hogs else None
        wall0, cpu0 = time.monotonic(), time.process_time()
        irq0, lost0 = soc.irqc.count[DMAC_IRQ], soc.irqc.lost[DMAC_IRQ]
        cap_rt = cap.runtime if cap is not None else None  # outlives the close
        prog = self._progress(play, writer)
        prog.__enter__()
        try:
            play.prepare()
            if cap is not None:
                cap.prepare()
                cap.start()
            cap_since = self.i2s.frames
            if cap is not None:
                self.out_origin_ns = self.clock.now_ns
            t0 = self.clock.now_ns + self.lead * NS // rt.rate  # fault times: from the signal
            self.t0 = t0
            self._arm(play, probe, t0)
            stalls = sorted((t0 + s, t0 + e) for s, e in (w.ns() for w in self.faults.stalls))
            if hogs:
                hogs.start()
            wait_ns = play.substream.wait_time_ns()
            while True:
                prog.update(writer.pos, rt.hw_avail() / rt.buffer_size,
                            sum(e.kind in ("xrun", "underrun") for e in self.events))
                now = self.clock.now_ns
                stalled = any(s <= now < e for s, e in stalls)
                ready = not stalled and now >= writer.hold_until
                progressed = self._step(play, writer, now, ready, wait_ns)
                if cap is not None:
                    got = self._read(cap)
                    if got is not None:
                        self._heard(got)
                        progressed = progressed or len(got) > 0
                self._take_tap(analyse=cap is None)
                if writer.state is WriterState.DONE and (
                        cap is None or self._capture_done(cap_since, writer.drained_at)):
                    break
                if not progressed:
                    self._sleep(play, cap_rt, stalls, writer, wait_ns, ready)
            prog.update(writer.pos, 0.0, sum(e.kind in ("xrun", "underrun")
                                             for e in self.events), final=True)
        except KeyboardInterrupt as e:  # the report is made all the same; the caller
            self.ended_by = "SIGTERM" if isinstance(e, Terminated) else "interrupt"
            self.interrupted = e  # saves it, then ends as the signal says
        except Exception as e:
            from soc.sound_device import DeviceError

            lost = self.sess.endpoint.lost  # the PCM's EBADFD or ENODEV, once disconnected
            if not isinstance(e, DeviceError) and not (isinstance(e, PcmError) and lost):
                raise
            self.ended_by = f"sound device lost: {lost or e}"
            self.say(f"dma-audio: {self.ended_by}")
        finally:
            prog.__exit__(None, None, None)
            if hogs:
                hogs.stop()
            wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
            self._take_tap(analyse=cap is None)  # what the device was sent, to the end
            if self.tc_watch is not None:
                self.tc_watch.close()
            probe.sampling = False
            if probe.on_trace in play.substream.tracepoints:  # the substream outlives the run
                play.substream.tracepoints.remove(probe.on_trace)
            for pcm in (play, cap):
                if pcm is not None:
                    try:
                        pcm.close()
                    except Exception as e:  # a lost device: the report matters now
                        self.say(f"close: {e}")
        stats = RunStats(length, writer.pos, wall, cpu, soc.irqc.count[DMAC_IRQ] - irq0,
                         soc.irqc.lost[DMAC_IRQ] - lost0)
        return self._result(stats, probe, rt, cap_rt)

    def _step(self, play: Any, w: Writer, now: int, ready: bool, wait_ns: int) -> bool:
        """Move the writer one step from its state; whether anything moved."""
        if w.writing:
            if not ready:
                w.state = WriterState.WRITING  # a writer that is not waiting cannot time out
                return False
            n, starved = self._write(play, w.pos, w.total)
            if n:
                w.pos += n
                w.state = WriterState.WRITING if w.pos < w.total else WriterState.DRAINING
                if self.faults.jitter_ms:
                    w.hold_until = now + round(self.rng.exponential(self.faults.jitter_ms) * 1e6)
                return True
            if starved:
                if w.state is not WriterState.STARVED:
                    w.state, w.starved_since = WriterState.STARVED, now
                if now - w.starved_since >= wait_ns:
                    self._eio(play, wait_ns)
                    w.state = WriterState.WRITING
                    return True
            return False
        if w.state is WriterState.DRAINING:
            done = self._drain(play)
            w.drained_at = self.i2s.frames
            if done:
                w.state = WriterState.DONE
                return True
            hw = play.runtime.hw_ptr
            if hw != w.drain_hw:
                w.drain_hw, w.drain_since = hw, now
            elif now - w.drain_since >= wait_ns:
                self._drain_timeout(play, wait_ns)  # snd_pcm_drain's bound
                w.state = WriterState.DONE
                return True
        return False

    def _frames_at(self, pos: int, n: int) -> np.ndarray:
        """Up to ``n`` frames of what is written from ``pos``: the lead's silence, the
        input, a period of silence."""
        lead, length = self.lead, self.hw_src.length
        ch, dtype = self.silence.shape[1], self.silence.dtype
        if pos < lead:
            return np.zeros((min(n, lead - pos), ch), dtype)
        if pos < lead + length:
            return np.asarray(self.hw_src.read(pos - lead, n), dtype)
        return self.silence[: min(n, lead + length + len(self.silence) - pos)]

    def _heard(self, frames: np.ndarray) -> None:
        """Output (the tap or the capture) to the spool the analysis reads."""
        if len(frames):
            self.channels_heard = frames.shape[1]
            self.spool.write(np.ascontiguousarray(frames, np.int32).tobytes())
            self.heard += len(frames)

    def _take_tap(self, analyse: bool) -> None:
        """What the card was sent since the last take: to the analysis (unless it reads
        the capture) and to ``tap``; a signal waits until both have them."""
        with signals_deferred():
            for config, blocks in self.sess.endpoint.take_tap():
                if analyse:
                    for block in blocks:
                        self._heard(block)
                if self.tap is not None:
                    self.tap.write(config, blocks)

    def _analyse(self, length: int) -> Analysis:
        """The spooled output against the input, a block at a time."""
        sa = StreamAnalyser(self.hw_src.read, length, self.horizon)
        self.spool.seek(0)
        ch = self.channels_heard
        while True:
            raw = self.spool.read(65536 * ch * 4)
            if not raw:
                break
            sa.push(np.frombuffer(raw, np.int32).reshape(-1, ch))
        return sa.finish()

    def _write(self, play: Any, pos: int, total: int) -> tuple[int, bool]:
        """One write attempt; (frames written, whether the ring had no room)."""
        rt = play.runtime
        try:
            if self.args.on_xrun != "stop" and rt.state == PcmState.RUNNING:
                avail = play.avail()
                if avail > rt.buffer_size:  # the DMA went past appl_ptr: an underrun
                    behind = avail - rt.buffer_size
                    at = self.clock.now_ns - behind * NS // rt.rate
                    self._event("underrun", at, f"writer {behind} frames behind the DMA; "
                                "forwarded to it")
                    play.forward(behind)
                    self.recoveries += 1
            if rt.state == PcmState.RUNNING and rt.avail() < rt.avail_min:
                return 0, True  # poll() says no room yet (POLLOUT is avail >= avail_min)
            n = play.writei(self._frames_at(pos, min(rt.period_size, total - pos)))
            return n, False
        except PcmError as e:
            if e.errno == errno.EAGAIN:
                return 0, True
            if e.errno == errno.EPIPE:
                self._event("xrun", rt.trigger_tstamp_ns, "EPIPE; prepared and went on")
                play.prepare()
                self.recoveries += 1
                return 0, False
            raise

    def _eio(self, play: Any, wait_ns: int) -> None:
        self._event("eio", self.clock.now_ns, f"playback write timed out after "
                    f"{wait_ns // 1_000_000} ms (DMA or IRQ trouble?); dropped and prepared")
        play.drop()
        play.prepare()
        self.recoveries += 1

    def _drain_timeout(self, play: Any, wait_ns: int) -> None:
        """``snd_pcm_drain``: no pointer moved for a wait's time: the stream is stopped."""
        self._event("eio", self.clock.now_ns, f"playback drain timeout after "
                    f"{wait_ns // 1_000_000} ms (DMA or IRQ trouble?); stopped")
        play.runtime.log.append("playback drain timeout (DMA or IRQ trouble?)")
        play.drop()

    def _drain(self, play: Any) -> bool:
        try:
            play.drain()
        except PcmError as e:
            if e.errno == errno.EAGAIN:
                return False
            if e.errno != errno.EPIPE:
                raise
        return play.runtime.state != PcmState.DRAINING

    def _read(self, cap: Any) -> np.ndarray | None:
        try:
            return cap.readi(cap.runtime.buffer_size)
        except PcmError as e:
            if e.errno == errno.EAGAIN:
                return None
            if e.errno != errno.EPIPE:
                raise
            self._event("capture_overrun", cap.runtime.trigger_tstamp_ns, "prepared, restarted")
            cap.prepare()
            cap.start()
            self.recoveries += 1
            return None

    def _capture_done(self, since: int, until: int) -> bool:
        """Capture until what was played by ``until`` (a bit-clock frame) came back,
        after the card's latency and the loop; or for that long, if frames were lost."""
        ep = self.sess.endpoint
        margin = ep.latency_frames() + (ep.loop_delay if ep.is_virtual else 0) + 1024
        got = self.heard
        return got >= until - since + margin or self.i2s.frames >= until + 2 * margin

    def _sleep(self, play: Any, cap_rt: Any, stalls, w: Writer, wait_ns: int,
               ready: bool) -> None:
        """Wait on the clock until the writer or the reader can move, or a fault window
        or the writer's timeout comes."""
        rt = play.runtime
        now = self.clock.now_ns
        writing = ready and w.writing
        edges = [t for s, e in stalls for t in (s, e) if t > now]
        if w.hold_until > now:
            edges.append(w.hold_until)
        if w.state is WriterState.STARVED and w.starved_since + wait_ns > now:
            edges.append(w.starved_since + wait_ns)
        limit = min(edges) if edges else now + wait_ns
        state = rt.state

        def movable() -> bool:
            if self.clock.now_ns >= limit or rt.state != state:
                return True
            if writing and rt.avail() >= rt.avail_min:
                return True
            return cap_rt is not None and cap_rt.avail() >= cap_rt.avail_min

        if not self.clock.wait_until(movable, max(limit - now, 1)) and not self.clock.realtime:
            self.clock.run_until(limit)  # nothing moves on its own: time jumps

    # -- the report --

    def _result(self, stats: RunStats, probe: Probe, rt: Any, cap_rt: Any) -> Result:
        ep = self.sess.endpoint
        length, period, buffer = stats.length, rt.period_size, rt.buffer_size
        rate = self.i2s.rate
        i2s = self.i2s
        for frame in i2s.tx_underrun_at:
            self._event_quiet("fifo_underrun", frame)
        far_end = ep.far_end
        for frame in getattr(getattr(far_end, "stats", None), "underflow_frames", []):
            self._event_quiet("card_underflow", frame)
        # the input written: all of it, unless a signal or a lost device ended the run
        written = min(max(stats.written - self.lead, 0), length)
        share = matchable_stream(self.hw_src.read, written, self.horizon)
        can = share >= MATCHABLE
        try:
            analysis = self._analyse(written) if self.heard and can else None
        finally:
            self.spool.close()
        glitches = analysis.glitches if analysis else []
        matched, unexplained, unseen = _match(glitches, self.events, buffer + period +
                                              ep.latency_frames() + 2 * ep.loop_delay)
        if not can:
            self.say(f"the input repeats itself ({share:.0%} of its frames lie in a window "
                     "that occurs once): the output cannot be matched to it, so no glitch, "
                     "lost or heard frame is reported")
        xruns = sum(e.kind in ("xrun", "underrun") for e in self.events)
        summary = {
            "mode": self.args.on_xrun,
            "ended_by": self.ended_by,
            "rate": rate, "channels": rt.channels, "format": BY_NUMBER[rt.format].name,
            "period_size": period, "buffer_size": buffer,
            "duration_s": round(length / rate, 3),
            "xruns": xruns,
            "fifo_underruns": i2s.tx_underruns,
            "card_underflows": getattr(getattr(far_end, "stats", None), "output_underflows",
                                       0),
            "capture_overruns": sum(e.kind == "capture_overrun" for e in self.events),
            "eio": sum(e.kind == "eio" for e in self.events),
            "periods": probe.tcs,
            "irqs": stats.irqs,
            "lost_irqs": stats.lost_irqs,
            "coalesced_callbacks": max(probe.tcs - probe.callbacks, 0),
            "max_irq_latency_ms": round(probe.max_irq_latency_ns / 1e6, 3),
            "frames_written": written,
            "matchable": round(share, 4),
            "frames_played": (analysis.frames_found if analysis else 0) if can else None,
            "frames_lost": ((written - analysis.frames_found) if analysis else written)
            if can else None,
            "recoveries": self.recoveries,
            "glitches": [dict(g.as_dict(rate), at_s=round((self._output_ns(g.at_frame)
                                                           - self.t0) / NS, 6))
                         for g in glitches],
            "glitches_explained": matched if can else None,
            "glitches_unexplained": unexplained if can else None,
            "xruns_without_glitch": unseen if can else None,
            "cpu_s": round(stats.cpu_s, 3), "wall_s": round(stats.wall_s, 3),
            "cpu_per_audio_s": round(stats.cpu_s / max(written / rate, 1e-9), 4),
            "log": list(dict.fromkeys(rt.log))[-20:],
            "capture_log": list(dict.fromkeys(cap_rt.log))[-20:] if cap_rt else [],
        }
        injected = [(round((ns - self.t0) / NS, 6), what)
                    for ns, what in (self.injector.log if self.injector else [])]
        if self.faults.unplug_at is not None and self.ended_by.startswith("sound device"):
            injected.append((self.faults.unplug_at, "the sound device unplugged"))
        return Result(summary, self.events, analysis, probe, self.faults.stalls, rate,
                      self.t0, self.faults, sorted(injected))

    def _event_quiet(self, kind: str, frame: int) -> None:
        """An event the hardware counted at bit-clock ``frame``."""
        at = self.i2s.frame_ns_origin + frame * NS // self.i2s.rate
        self.events.append(Event(kind, at, self._frame(at)))


def _match(glitches: list, events: list[Event], tol: int) -> tuple[int, int, int]:
    """Glitches with a reported event within ``tol`` frames of their span, glitches
    without one, and xruns (PCM, writer-detected, timed out) that no glitch shows."""
    spans = np.array([(g.at_frame - tol, g.at_frame + g.inserted + tol) for g in glitches],
                     np.int64).reshape(-1, 2)
    frames = np.array([e.frame for e in events], np.int64)
    near = (frames[None, :] >= spans[:, :1]) & (frames[None, :] <= spans[:, 1:])
    explained = int(near.any(axis=1).sum()) if frames.size else 0
    xrun = np.array([e.kind in ("xrun", "underrun", "eio") for e in events], bool)
    unseen = int((xrun & ~near.any(axis=0)).sum()) if len(glitches) else int(xrun.sum())
    return explained, len(glitches) - explained, unseen
