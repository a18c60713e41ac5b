"""The PCM substream: its state machine, hw and sw params, the ring.

Counterpart: sound/core/pcm_native.c (open, hw_refine, hw_params, hw_free, sw_params,
prepare, start, stop, drain, drop, pause, reset, hwsync, status, delay). The update,
silence, waiting and transfers are pcm_lib.c's: :class:`pcm.pcm_lib.PcmLib`. The driver
below is a :class:`PcmOps` (``struct snd_pcm_ops``): here the ASoC runtime of
:mod:`pcm.soc_pcm`.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

import numpy as np

from pcm import params as hp
from pcm.errors import ParamError, PcmError
from pcm.formats import BY_NUMBER
from pcm.pcm_lib import HZ, ULONG_MAX, PcmLib, Update, jiffies, update_state
from pcm.runtime import PcmRuntime, PcmState, PcmStream
from soc.clock import VirtualClock

INFO_PAUSE = 0x00080000
INFO_RESUME = 0x00040000
INFO_BATCH = 0x00000010
INFO_INTERLEAVED = 0x00000100
INFO_BLOCK_TRANSFER = 0x00010000
INFO_FIFO_IN_FRAMES = 0x80000000

class Trigger(IntEnum):
    STOP = 0
    START = 1
    PAUSE_PUSH = 3
    PAUSE_RELEASE = 4
    SUSPEND = 5
    RESUME = 6
    DRAIN = 7  # SNDRV_PCM_TRIGGER_DRAIN: for drivers that drain in hardware; none here


@dataclass
class PcmHardware:
    """``struct snd_pcm_hardware``: what the driver says it can do."""

    info: int = INFO_INTERLEAVED | INFO_BLOCK_TRANSFER
    formats: set[int] = field(default_factory=set)
    rates: list[int] | None = None  # a list constraint, or None for [rate_min, rate_max]
    rate_min: int = 0
    rate_max: int = hp.UINT_MAX
    channels_min: int = 1
    channels_max: int = hp.UINT_MAX
    buffer_bytes_max: int = hp.UINT_MAX
    period_bytes_min: int = 1
    period_bytes_max: int = hp.UINT_MAX
    periods_min: int = 1
    periods_max: int = hp.UINT_MAX
    fifo_size: int = 0  # bytes, or frames with INFO_FIFO_IN_FRAMES


@dataclass
class SwParams:
    """``struct snd_pcm_sw_params`` (the fields the model keeps)."""

    avail_min: int = 1
    start_threshold: int = 1
    stop_threshold: int = 0
    silence_threshold: int = 0
    silence_size: int = 0
    period_step: int = 1
    boundary: int = 0


@dataclass
class PcmStatus:
    """``struct snd_pcm_status``: a snapshot."""

    state: PcmState
    trigger_tstamp_ns: int
    tstamp_ns: int
    appl_ptr: int
    hw_ptr: int
    delay: int
    avail: int
    avail_max: int
    xruns: int
    suspended_state: PcmState = PcmState.OPEN  # what a SUSPENDED stream will resume to


class PcmOps(Protocol):
    """``struct snd_pcm_ops``."""

    def open(self, substream: Substream) -> None: ...
    def close(self, substream: Substream) -> None: ...
    def hw_params(self, substream: Substream, params: hp.HwParams) -> None: ...
    def hw_free(self, substream: Substream) -> None: ...
    def prepare(self, substream: Substream) -> None: ...
    def trigger(self, substream: Substream, cmd: Trigger) -> None: ...
    def pointer(self, substream: Substream) -> int: ...
    def sync_stop(self, substream: Substream) -> None: ...


def _drain_moved(rt: PcmRuntime, hw: int) -> Callable[[], bool]:
    """The wake-up condition of a drain: its end, or a move of hw_ptr."""
    return lambda: rt.state != PcmState.DRAINING or rt.hw_ptr != hw


class Substream(PcmLib):
    """``struct snd_pcm_substream`` with its runtime while open."""

    def __init__(self, name: str, stream: PcmStream, ops: PcmOps, clock: VirtualClock) -> None:
        self.name = name
        self.debug_name = f"{name}:0"  # snd_pcm_debug_name: the device, then substream 0
        self.stream = stream
        self.is_playback = stream == PcmStream.PLAYBACK
        self.ops = ops
        self.clock = clock  # has now_ns, wait_until(cond, timeout_ns) and notify()
        self.lock = clock.spinlock()  # the stream lock
        # pcm->open_mutex (one per substream here): open and close against a disconnect
        self.open_mutex = threading.Lock()
        self.runtime: PcmRuntime | None = None
        self.hw = PcmHardware()
        self.rules: list[tuple[str, hp.Rule]] = []
        self.hw_params_current: hp.HwParams | None = None
        self.dma_area: np.ndarray | None = None  # the ring, as the CPU sees it (bytes)
        self.dma_addr = 0
        self.dma_bytes = 0
        self.wait_time_ms = 0
        self.slave_config: Any = None  # what the platform gave the DMA (for dumps)
        self.private_data: Any = None
        self.card: Any = None  # substream->pcm->card: its ``shutdown`` ends a drain (ENODEV)
        # Tracepoints, fn(event, substream, fields): the kernel's snd_pcm events (see
        # pcm.pcm_trace) "hwptr", "hw_ptr_error", "xrun" and "applptr", and the model's own
        # "hwptr_updated" after each update (in_interrupt, hw_ptr), for observers that want
        # the moved pointers.
        self.tracepoints: list[Callable[[str, Substream, dict], None]] = []

    # -- open / close --

    def open(self) -> None:
        """``snd_pcm_open_substream``: state OPEN; the driver sets ``hw`` and rules."""
        with self.open_mutex:
            if self.runtime is not None:
                raise PcmError(errno.EBUSY, f"{self.name}: already open")
            self.hw = PcmHardware()
            self.rules = []
            self.runtime = PcmRuntime(self.stream, 1, 1, state=PcmState.OPEN)
            try:
                self.ops.open(self)
            except BaseException:
                self.runtime = None
                raise

    def close(self) -> None:
        """``snd_pcm_release_substream``: drop, sync, hw_free, close."""
        with self.open_mutex:
            rt = self._rt()
            if rt.state not in (PcmState.OPEN, PcmState.SETUP, PcmState.DISCONNECTED):
                self.drop()
            self.sync_stop()
            if self.hw_params_current is not None:
                self.ops.hw_free(self)
                self.hw_params_current = None
            self.ops.close(self)
            self.runtime = None

    @property
    def state(self) -> PcmState:
        return self._rt().state

    # -- hw_params --

    def hw_constraints(self) -> hp.HwParams:
        """A full space narrowed by ``snd_pcm_hw_constraints_complete`` from ``hw``."""
        hw = self.hw
        p = hp.HwParams()
        hp.constraints_init(p)
        p.masks["FORMAT"] &= hw.formats or set(BY_NUMBER)
        p.set_minmax("CHANNELS", hw.channels_min, hw.channels_max)
        p.set_minmax("RATE", hw.rate_min, hw.rate_max)
        p.set_minmax("PERIOD_BYTES", hw.period_bytes_min, hw.period_bytes_max)
        p.set_minmax("PERIODS", hw.periods_min, hw.periods_max)
        p.set_minmax("BUFFER_BYTES", hw.period_bytes_min, hw.buffer_bytes_max)
        p.info = hw.info
        return p

    def extra_rules(self) -> list[tuple[str, hp.Rule]]:
        rules = list(self.rules)
        if self.hw.rates:
            rules.append(hp.list_rule("RATE", self.hw.rates))
        return rules

    def hw_refine(self, params: hp.HwParams | None = None) -> hp.HwParams:
        """``snd_pcm_hw_refine``: ``params`` narrowed by the hardware and the rules."""
        self._rt()
        p = self.hw_constraints()
        if params is not None:
            p.masks = {k: p.masks[k] & params.masks[k] for k in p.masks}
            for name in hp.MASKS:
                if not p.masks[name]:
                    raise ParamError(name, f"hw_params: {name} cannot be met "
                                     f"(asked {params.describe(name)}, possible "
                                     f"{self.hw_constraints().describe(name)})")
            for name in hp.INTERVALS:
                asked = params[name]
                i = p[name]
                before = str(i)
                i.refine(asked)
                if i.empty():
                    raise ParamError(name, f"hw_params: {name} {asked} cannot be met "
                                     f"(the hardware allows {before})")
        p = hp.refine(p, self.extra_rules())
        if len(p.masks["FORMAT"]) == 1 and p["CHANNELS"].single():
            self.ioctl_fifo_size(p)
        return p

    def ioctl_fifo_size(self, p: hp.HwParams) -> None:
        """``snd_pcm_lib_ioctl_fifo_size``: the hardware's FIFO size, in frames."""
        p.fifo_size = self.hw.fifo_size
        if not self.hw.info & INFO_FIFO_IN_FRAMES:
            p.fifo_size //= p.format.phys // 8 * p.get("CHANNELS")

    def hw_params(self, params: hp.HwParams | None = None) -> hp.HwParams:
        """``snd_pcm_hw_params``: refine, choose, let the driver set up; state SETUP.
        Refused (the refinement, or the driver), the stream falls back to OPEN."""
        rt = self._rt()
        with self.lock:
            if rt.state not in (PcmState.OPEN, PcmState.SETUP, PcmState.PREPARED):
                raise self._badfd("hw_params")
        self.sync_stop()
        try:
            p = hp.choose(self.hw_refine(params), self.extra_rules())
            if self.hw_params_current is not None:
                self.ops.hw_free(self)
                self.hw_params_current = None
            self.ops.hw_params(self, p)
        except PcmError:
            # the hardware may be unusable now: the application must set it up again,
            # and hw_free undoes whatever part of the driver's hw_params had succeeded
            with self.lock:
                rt.state = PcmState.OPEN
            self.ops.hw_free(self)
            self.hw_params_current = None
            raise
        self.hw_params_current = p
        with self.lock:
            period, buffer = p.get("PERIOD_SIZE"), p.get("BUFFER_SIZE")
            new = PcmRuntime(self.stream, buffer, period, state=PcmState.SETUP)
            new.format, new.channels, new.rate = p.get("FORMAT"), p.get("CHANNELS"), p.get("RATE")
            new.frame_bits, new.info = p.get("FRAME_BITS"), p.info
            new.log = rt.log
            self.runtime = new
            if self.dma_area is not None:
                self.dma_area[:] = 0
        return p

    def hw_free(self) -> None:
        """``snd_pcm_hw_free``: back to OPEN; the ring is freed."""
        rt = self._rt()
        with self.lock:
            if rt.state not in (PcmState.OPEN, PcmState.SETUP, PcmState.PREPARED):
                raise self._badfd("hw_free")
        self.sync_stop()
        if self.hw_params_current is not None:
            self.ops.hw_free(self)
            self.hw_params_current = None
        rt.state = PcmState.OPEN

    # -- sw_params --

    def sw_params_current(self) -> SwParams:
        rt = self._rt()
        return SwParams(rt.avail_min, rt.start_threshold, rt.stop_threshold,
                        rt.silence_threshold, rt.silence_size, 1, rt.boundary)

    def sw_params(self, sw: SwParams) -> None:
        """``snd_pcm_sw_params`` with its checks (EINVAL naming the field)."""
        rt = self._rt()
        with self.lock:
            if rt.state == PcmState.OPEN:
                raise self._badfd("sw_params")
            if sw.avail_min == 0:
                raise ParamError("avail_min", "sw_params: avail_min must not be 0")
            if sw.silence_size >= rt.boundary:
                if sw.silence_threshold != 0:
                    raise ParamError("silence_threshold", "sw_params: silence_threshold must "
                                     "be 0 with silence_size >= boundary (top-up mode)")
            else:
                if sw.silence_size > sw.silence_threshold:
                    raise ParamError("silence_size", f"sw_params: silence_size "
                                     f"{sw.silence_size} > silence_threshold "
                                     f"{sw.silence_threshold}")
                if sw.silence_threshold > rt.buffer_size:
                    raise ParamError("silence_threshold", f"sw_params: silence_threshold "
                                     f"{sw.silence_threshold} > buffer_size {rt.buffer_size}")
            rt.avail_min = sw.avail_min
            rt.start_threshold = sw.start_threshold
            rt.stop_threshold = sw.stop_threshold
            rt.silence_threshold = sw.silence_threshold
            rt.silence_size = sw.silence_size
            if self._running():
                if self.is_playback and rt.silence_size > 0:
                    self._playback_silence(ULONG_MAX)
                self._act(update_state(rt))

    # -- what an update decides, and the pointer calls --

    def _act(self, res: Update) -> None:
        rt = self._rt()
        if res == Update.XRUN:
            rt.xruns += 1
            self._trace("xrun", {"hw_ptr": rt.hw_ptr, "hw_ptr_base": rt.hw_ptr_base})
            rt.log.append(f"XRUN: {self.debug_name}")  # as __snd_pcm_xrun logs it
            self._stop(PcmState.XRUN)
        elif res == Update.DRAIN_DONE:
            self._stop(PcmState.SETUP)

    def hwsync(self) -> None:
        """``do_pcm_hwsync``: bring hw_ptr up to date, or raise the state's errno; EPIPE
        when the update itself stopped the stream (an xrun, or a drain that ended), as
        ``snd_pcm_update_hw_ptr`` returns it."""
        rt = self._rt()
        with self.lock:
            if rt.state == PcmState.DRAINING and not self.is_playback:
                raise self._badfd("hwsync")
            if rt.state in (PcmState.RUNNING, PcmState.DRAINING):
                res = self._update_hw_ptr(False)
                if res is Update.XRUN or res is Update.DRAIN_DONE:
                    raise PcmError(errno.EPIPE, f"{self.name}: "
                                   f"{'xrun' if res is Update.XRUN else 'drained'}")
            elif rt.state in (PcmState.PREPARED, PcmState.PAUSED):
                pass
            elif rt.state == PcmState.SUSPENDED:
                raise PcmError(errno.ESTRPIPE, f"{self.name}: suspended")
            elif rt.state == PcmState.XRUN:
                raise PcmError(errno.EPIPE, f"{self.name}: xrun")
            else:
                raise self._badfd()

    def avail(self) -> int:
        """``snd_pcm_avail`` (the ioctl): hwsync, then frames free (playback) or ready."""
        self.hwsync()
        return self._rt().avail()

    def delay(self) -> int:
        """``snd_pcm_delay``: frames until a frame written now is heard (playback), or
        since a frame now readable was sampled (capture); includes the driver's delay
        (``runtime.delay``: here the DAIs', the I2S FIFO and the card's latency)."""
        self.hwsync()
        return self._calc_delay()

    def _calc_delay(self) -> int:
        """``snd_pcm_calc_delay``: queued (playback) or ready (capture) + driver delay."""
        rt = self._rt()
        return (rt.hw_avail() if self.is_playback else rt.avail()) + rt.delay

    def status(self) -> PcmStatus:
        """``snd_pcm_status``: a snapshot; hw_ptr is updated first while running. The
        delay is given only while running (RUNNING, or a draining playback): paused it
        reads 0 here, where :meth:`delay` still answers."""
        rt = self._rt()
        with self.lock:
            if self._running():
                self._update_hw_ptr(False)
            delay = self._calc_delay() if self._running() else 0
            avail = rt.avail() if rt.state != PcmState.OPEN else 0
            st = PcmStatus(rt.state, rt.trigger_tstamp_ns, self.clock.now_ns, rt.appl_ptr,
                           rt.hw_ptr, delay, avail, rt.avail_max, rt.xruns,
                           rt.suspended_state)
            rt.avail_max = 0
            return st

    # -- prepare / start / stop / pause / reset --

    def sync_stop(self) -> None:
        """``snd_pcm_sync_stop``: after a trigger STOP or SUSPEND, wait for the DMA (the
        driver's ``sync_stop``: here ``dmaengine_synchronize``), once."""
        rt = self.runtime
        if rt is not None and rt.stop_operating:
            rt.stop_operating = False
            self.ops.sync_stop(self)

    def prepare(self) -> None:
        """``snd_pcm_prepare``: from SETUP, PREPARED or XRUN; a PAUSED stream is released
        and a SUSPENDED one stopped (SETUP) first. EBUSY while running."""
        rt = self._rt()
        with self.lock:
            if rt.state in (PcmState.PAUSED, PcmState.SUSPENDED):
                if rt.state == PcmState.PAUSED:
                    self._pause(False)
                self._stop(PcmState.SETUP)
            if rt.state in (PcmState.OPEN, PcmState.DISCONNECTED):
                raise self._badfd("prepare")
            if self._running():
                raise PcmError(errno.EBUSY, f"{self.name}: prepare while {rt.state.name}")
        self.sync_stop()
        self.ops.prepare(self)
        with self.lock:
            self._do_reset()
            rt.appl_ptr = rt.hw_ptr
            rt.state = PcmState.PREPARED

    def _do_reset(self) -> None:
        rt = self._rt()
        # kept unless the update stopped the stream (the kernel's update returns -EPIPE)
        if self._running() and self._update_hw_ptr(False) not in (Update.XRUN,
                                                                   Update.DRAIN_DONE):
            rt.hw_ptr %= rt.buffer_size
        else:
            rt.hw_ptr = 0
            rt.hw_ptr_wrap = 0
        rt.hw_ptr_base = 0
        rt.hw_ptr_interrupt = rt.hw_ptr - rt.hw_ptr % rt.period_size
        rt.silence_start = rt.hw_ptr
        rt.silence_filled = 0

    def forward(self, frames: int) -> int:
        """``snd_pcm_forward``: move appl_ptr ahead by up to ``avail`` frames (a
        free-running playback that fell behind the DMA skips to it); frames moved."""
        rt = self._rt()
        if frames <= 0:
            return 0
        self.hwsync()
        with self.lock:
            avail = rt.avail()
            if avail <= 0:
                return 0
            frames = min(frames, avail)
            self._apply_appl_ptr(rt.appl_ptr + frames)
            return frames

    def reset(self) -> None:
        """``snd_pcm_reset``: appl_ptr = hw_ptr (drops what was queued)."""
        rt = self._rt()
        with self.lock:
            if rt.state not in (PcmState.RUNNING, PcmState.PREPARED, PcmState.PAUSED,
                                PcmState.SUSPENDED):
                raise self._badfd("reset")
            self._do_reset()
            rt.appl_ptr = rt.hw_ptr
            if self.is_playback and rt.silence_size > 0:
                self._playback_silence(ULONG_MAX)

    def _playback_data(self) -> bool:
        rt = self._rt()
        return rt.stop_threshold >= rt.boundary or rt.playback_avail() < rt.buffer_size

    def start(self) -> None:
        """``snd_pcm_start``: PREPARED → RUNNING (EPIPE for a playback with no data)."""
        with self.lock:
            self._start(PcmState.RUNNING)

    def _start(self, state: PcmState) -> None:
        rt = self._rt()
        if rt.state != PcmState.PREPARED:
            raise self._badfd("start")
        if self.is_playback and not self._playback_data():
            raise PcmError(errno.EPIPE, f"{self.name}: start with an empty ring")
        self.ops.trigger(self, Trigger.START)
        rt.trigger_tstamp_ns = self.clock.now_ns
        rt.hw_ptr_jiffies = jiffies(self.clock.now_ns)
        rt.hw_ptr_buffer_jiffies = rt.buffer_size * HZ // rt.rate
        rt.state = state
        if self.is_playback and rt.silence_size > 0:
            self._playback_silence(ULONG_MAX)

    def _stop(self, state: PcmState) -> None:
        """``snd_pcm_stop`` under the stream lock: trigger STOP if running, set state."""
        rt = self._rt()
        if rt.state == PcmState.OPEN:
            raise self._badfd("stop")
        if self._running():
            self.ops.trigger(self, Trigger.STOP)
            rt.stop_operating = True
        if rt.state != state:
            rt.trigger_tstamp_ns = self.clock.now_ns
            rt.state = state
            self.clock.notify()  # snd_pcm_post_stop's wake_up: a waiting writer sees it

    def stop(self, state: PcmState = PcmState.SETUP) -> None:
        with self.lock:
            self._stop(state)

    def drop(self) -> None:
        """``snd_pcm_drop``: stop at once, whatever is queued; state SETUP. As in the
        kernel, the DMA is synchronized later (``sync_stop``), by prepare, hw_free or
        close."""
        rt = self._rt()
        with self.lock:
            if rt.state in (PcmState.OPEN, PcmState.DISCONNECTED):
                raise self._badfd("drop")
            if rt.state == PcmState.PAUSED:
                self._pause(False)
            self._stop(PcmState.SETUP)

    def suspend(self) -> None:
        """``snd_pcm_suspend``: any state with a stream set up → SUSPENDED, the state
        kept for resume; a running stream's DMA gets the trigger's SUSPEND (paused where
        it can pause, else stopped) and waits for ``sync_stop``. EBUSY where there is
        nothing to suspend (OPEN, SETUP, DISCONNECTED, SUSPENDED), which
        :meth:`SocCard.suspend_all <pcm.soc_pcm.SocCard.suspend_all>` skips."""
        rt = self._rt()
        with self.lock:
            if rt.state in (PcmState.OPEN, PcmState.SETUP, PcmState.DISCONNECTED,
                            PcmState.SUSPENDED):
                raise PcmError(errno.EBUSY, f"{self.name}: suspend in state {rt.state.name}")
            if self._running():
                self.ops.trigger(self, Trigger.SUSPEND)
                rt.stop_operating = True
            rt.trigger_tstamp_ns = self.clock.now_ns
            rt.suspended_state = rt.state
            rt.state = PcmState.SUSPENDED
            self.clock.notify()  # snd_pcm_post_suspend's wake_up: a waiter gets ESTRPIPE

    def disconnect(self) -> None:
        """One substream's part of ``snd_pcm_dev_disconnect``: a running stream is stopped
        (trigger STOP) into DISCONNECTED, any other open one just set to it, and the
        waiters are woken: a blocked read or write then fails with EBADFD, a drain with
        ENODEV. The caller synchronizes the DMA afterwards (``sync_stop``)."""
        rt = self.runtime
        if rt is None:
            return
        with self.lock:
            if self._running():
                self._stop(PcmState.DISCONNECTED)
            rt.state = PcmState.DISCONNECTED
            self.clock.notify()  # wake_up(&runtime->sleep) and (&runtime->tsleep)

    def resume(self) -> None:
        """``snd_pcm_resume``: SUSPENDED → the state it was suspended in; a stream whose
        DMA ran gets the trigger's RESUME. EBADFD unless suspended, ENOSYS without
        INFO_RESUME (the application then prepares, as ``snd_pcm_recover`` does)."""
        rt = self._rt()
        with self.lock:
            if rt.state != PcmState.SUSPENDED:
                raise self._badfd("resume")
            if not rt.info & INFO_RESUME:
                raise PcmError(errno.ENOSYS, f"{self.name}: the hardware cannot resume")
            was = rt.suspended_state
            if was == PcmState.RUNNING or (was == PcmState.DRAINING and self.is_playback):
                self.ops.trigger(self, Trigger.RESUME)
            rt.trigger_tstamp_ns = self.clock.now_ns
            rt.state = was

    def pause(self, push: bool) -> None:
        """``snd_pcm_pause``: RUNNING ↔ PAUSED; ENOSYS without INFO_PAUSE."""
        with self.lock:
            self._pause(push)

    def _pause(self, push: bool) -> None:
        rt = self._rt()
        if not rt.info & INFO_PAUSE:
            raise PcmError(errno.ENOSYS, f"{self.name}: the hardware cannot pause")
        if push and rt.state != PcmState.RUNNING:
            raise self._badfd("pause")
        if not push and rt.state != PcmState.PAUSED:
            raise self._badfd("pause release")
        # No hw_ptr update on push: the kernel dropped it in 6.5 (it served one driver's
        # interrupt delay), so a paused stream reports the position of its last update.
        # hw_ptr_jiffies goes HZ * 1000 back, as snd_pcm_do_pause sets it: the kernel's
        # optional "hw_ptr skipping" check (left out here) is skipped once; the
        # double-acknowledge check would take an interrupt with less than a period of
        # progress after it for a wrapped ring, in the kernel as here.
        rt.hw_ptr_jiffies = jiffies(self.clock.now_ns) - HZ * 1000
        self.ops.trigger(self, Trigger.PAUSE_PUSH if push else Trigger.PAUSE_RELEASE)
        rt.trigger_tstamp_ns = self.clock.now_ns
        rt.state = PcmState.PAUSED if push else PcmState.RUNNING
        if push:
            self.clock.notify()  # snd_pcm_post_pause wakes the waiters on push

    def drain(self, nonblock: bool = False) -> None:
        """``snd_pcm_drain``: playback plays what is queued then stops (SETUP); capture
        stops, and reads may take what is left. Non-blocking, it makes the same state
        change and then raises EAGAIN, whatever the state, as the kernel does."""
        rt = self._rt()
        with self.lock:
            if rt.state in (PcmState.OPEN, PcmState.DISCONNECTED, PcmState.SUSPENDED):
                raise self._badfd("drain")
            if rt.state == PcmState.PAUSED:
                self._pause(False)
            if self.is_playback:
                if rt.state == PcmState.PREPARED:
                    if rt.playback_avail() < rt.buffer_size:
                        self._start(PcmState.DRAINING)
                    else:
                        rt.state = PcmState.SETUP
                elif rt.state == PcmState.RUNNING:
                    rt.state = PcmState.DRAINING
                elif rt.state == PcmState.XRUN:
                    rt.state = PcmState.SETUP
            elif rt.state == PcmState.RUNNING:
                self._stop(PcmState.DRAINING if rt.capture_avail() > 0 else PcmState.SETUP)
            if nonblock:  # in any state: the caller polls for the end
                raise PcmError(errno.EAGAIN, f"{self.name}: drain would block")
            if rt.state != PcmState.DRAINING or not self.is_playback:
                return
        while True:
            hw = self._draining_hw_ptr(rt)
            if hw is None:
                return
            woke = self._wait(_drain_moved(rt, hw))
            if self.card is not None and self.card.shutdown:
                raise PcmError(errno.ENODEV, f"{self.name}: the card was disconnected while "
                               "draining")
            if not woke:
                if not self._drain_timed_out(rt):
                    return
                raise PcmError(errno.EIO, f"{self.name}: drain timed out (DMA or IRQ "
                               "trouble?)")

    def _draining_hw_ptr(self, rt: PcmRuntime) -> int | None:
        """hw_ptr while the drain goes on, read under the stream lock; None at its end."""
        with self.lock:
            return rt.hw_ptr if rt.state == PcmState.DRAINING else None

    def _drain_timed_out(self, rt: PcmRuntime) -> bool:
        """Stop a drain that is still going after its wait timed out; False if it ended."""
        with self.lock:
            if rt.state != PcmState.DRAINING:
                return False
            rt.log.append("playback drain timeout (DMA or IRQ trouble?)")
            self._stop(PcmState.SETUP)
            return True
