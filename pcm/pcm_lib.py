"""The half of the PCM core that sound/core/pcm_lib.c holds.

Counterpart: ``snd_pcm_update_hw_ptr0`` and ``snd_pcm_update_state`` (the hw_ptr update
and the state changes it causes), ``snd_pcm_period_elapsed``, ``snd_pcm_playback_silence``,
``wait_for_avail``, ``pcm_sanity_check``, ``pcm_accessible_state`` and
``__snd_pcm_lib_xfer`` with its interleaved read and write. :class:`PcmLib` holds the
ones that act on a substream; :class:`pcm.pcm_native.Substream` inherits them.

The update is called with the driver's position (``pointer()``, in frames) from
``period_elapsed`` (``in_interrupt=True``) and from every read, write and status call.
Of the kernel's jiffies checks it keeps the one for double-acknowledged interrupts: an
interrupt whose position looks less than a period on, more than half a buffer time after
the last update, means the ring wrapped, so a buffer is added. Jiffies are the clock's
time at ``HZ``.

Waiting: a blocked writer or reader releases the stream lock and calls the board clock's
``wait_until``. The timeout is the kernel's: ``max(100 ms, 1.1 * buffer_time)``, or
``wait_time_ms`` where the driver sets one (``substream->wait_time``); then EIO.

Departs from mainline: XRUN_DEBUG_JIFFIESCHECK ("hw_ptr skipping") is left out
(docs/departures.md).
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from enum import Enum
from typing import Any, Final

import numpy as np

from pcm.errors import PcmError
from pcm.formats import BY_NUMBER, PcmFormat, silence
from pcm.runtime import PcmRuntime, PcmState
from soc.clock import HZ, SpinLock, VirtualClock, jiffies

# PcmState's members as module constants: compiled code loads them without a lookup
_DISCONNECTED: Final = PcmState.DISCONNECTED
_DRAINING: Final = PcmState.DRAINING
_OPEN: Final = PcmState.OPEN
_PAUSED: Final = PcmState.PAUSED
_PREPARED: Final = PcmState.PREPARED
_RUNNING: Final = PcmState.RUNNING
_SETUP: Final = PcmState.SETUP
_SUSPENDED: Final = PcmState.SUSPENDED
_XRUN: Final = PcmState.XRUN

__all__ = ["HZ", "PcmLib", "Update", "jiffies", "update_hw_ptr", "update_state"]

ULONG_MAX: Final = 2**64 - 1


class Update(Enum):
    """What the update asks of the caller, after the pointers moved."""

    NONE = "none"
    WAKE = "wake"  # avail reached avail_min: wake the waiting reader/writer
    XRUN = "xrun"  # avail reached stop_threshold: stop the stream in XRUN
    DRAIN_DONE = "drain-done"  # a draining playback ran dry: stop, state SETUP
    IGNORED = "ignored"  # an impossible position: nothing was updated

# as module constants: compiled code loads them without a lookup
_U_DRAIN_DONE: Final = Update.DRAIN_DONE
_U_IGNORED: Final = Update.IGNORED
_U_NONE: Final = Update.NONE
_U_WAKE: Final = Update.WAKE
_U_XRUN: Final = Update.XRUN


def update_hw_ptr(
    rt: PcmRuntime,
    pos: int,
    in_interrupt: bool,
    fill_silence: Callable[[int], None] | None = None,
    now_ns: int = 0,
    debug_name: str = "pcmC0D0p:0",
    trace: Callable[[str, dict], None] | None = None,
) -> Update:
    """Move ``hw_ptr`` to the driver's position ``pos`` and update the state.

    ``debug_name`` is the substream's ``snd_pcm_debug_name`` ("pcmC0D0p:0"), which the
    kernel puts in its "invalid position" report. ``trace`` gets the ``hwptr`` and
    ``hw_ptr_error`` tracepoints where the kernel fires them."""
    curr_jiffies = jiffies(now_ns)
    old_hw_ptr = rt.hw_ptr
    if pos >= rt.buffer_size:
        rt.log.append(f"invalid position: {debug_name}, pos = {pos}, "
                      f"buffer size = {rt.buffer_size}, period size = {rt.period_size}")
        pos = 0
    if trace is not None:
        trace("hwptr", {"in_interrupt": in_interrupt, "pos": pos, "old_hw_ptr": old_hw_ptr,
                        "hw_ptr_base": rt.hw_ptr_base})
    hw_base = rt.hw_ptr_base
    new_hw_ptr = hw_base + pos
    crossed_boundary = False
    wrapped = False
    if in_interrupt and rt.hw_ptr_interrupt + rt.period_size > new_hw_ptr:
        # less than a period on at an interrupt: if it came late, the ring wrapped
        if curr_jiffies - rt.hw_ptr_jiffies > rt.hw_ptr_buffer_jiffies // 2 + 1:
            hw_base += rt.buffer_size
            if hw_base >= rt.boundary:
                hw_base = 0
                crossed_boundary = True
            new_hw_ptr = hw_base + pos
            wrapped = True
    if not wrapped and new_hw_ptr < old_hw_ptr:  # the position wrapped round the ring
        hw_base += rt.buffer_size
        if hw_base >= rt.boundary:
            hw_base = 0
            crossed_boundary = True
        new_hw_ptr = hw_base + pos
    delta = new_hw_ptr - old_hw_ptr
    if delta < 0:
        delta += rt.boundary
    if delta >= rt.buffer_size + rt.period_size:
        rt.log.append(f"{_where(in_interrupt)} Unexpected hw_ptr: (stream={int(rt.stream)}, "
                      f"pos={pos}, new_hw_ptr={new_hw_ptr}, old_hw_ptr={old_hw_ptr})")
        if trace is not None:
            trace("hw_ptr_error", {"reason": "Unexpected hw_ptr"})
        return _U_IGNORED
    if delta > rt.period_size + rt.period_size // 2:
        rt.log.append(f"{_where(in_interrupt)} Lost interrupts?: (stream={int(rt.stream)}, "
                      f"delta={delta}, new_hw_ptr={new_hw_ptr}, old_hw_ptr={old_hw_ptr})")
        if trace is not None:
            trace("hw_ptr_error", {"reason": "Lost interrupts?"})
    rt.hw_ptr_jiffies = curr_jiffies
    if new_hw_ptr == old_hw_ptr:
        return _U_NONE
    if fill_silence is not None:
        fill_silence(new_hw_ptr)
    if in_interrupt:
        d = new_hw_ptr - rt.hw_ptr_interrupt
        if d < 0:
            d += rt.boundary
        d -= d % rt.period_size
        rt.hw_ptr_interrupt += d
        if rt.hw_ptr_interrupt >= rt.boundary:
            rt.hw_ptr_interrupt -= rt.boundary
    rt.hw_ptr_base = hw_base
    rt.hw_ptr = new_hw_ptr
    if crossed_boundary:
        rt.hw_ptr_wrap += rt.boundary
    return update_state(rt)


def _where(in_interrupt: bool) -> str:
    """The prefix of the kernel's ``hw_ptr_error``: Q from an interrupt, P from a process."""
    return f"PCM: [{'Q' if in_interrupt else 'P'}]"


def update_state(rt: PcmRuntime) -> Update:
    """``snd_pcm_update_state``: drain done, xrun, or a wake-up."""
    avail = rt.avail()
    rt.avail_max = max(rt.avail_max, avail)
    if rt.state == _DRAINING:
        if avail >= rt.buffer_size:
            return _U_DRAIN_DONE
    elif avail >= rt.stop_threshold:
        return _U_XRUN
    if avail >= rt.avail_min:
        return _U_WAKE
    return _U_NONE


def _woken(rt: PcmRuntime, state: PcmState) -> Callable[[], bool]:
    """The wake-up condition of ``wait_for_avail``: room, or a change of state."""
    return lambda: rt.avail() >= rt.twake or rt.state != state


class PcmLib:
    """The substream's pcm_lib.c operations: the update, silence, waiting, transfers.

    The base of :class:`pcm.pcm_native.Substream`, which sets the fields below and gives
    pcm_native.c's state changes (``_act``, ``_start``, ``_stop``).
    """

    name: str
    debug_name: str
    is_playback: bool
    ops: Any
    clock: VirtualClock
    lock: SpinLock  # the stream lock
    runtime: PcmRuntime | None
    dma_area: np.ndarray | None
    wait_time_ms: int
    tracepoints: list[Callable[[str, Any, dict], None]]

    def _act(self, res: Update) -> None:
        raise NotImplementedError

    def _start(self, state: PcmState) -> None:
        raise NotImplementedError

    def _stop(self, state: PcmState) -> None:
        raise NotImplementedError

    def _badfd(self, what: str = "") -> PcmError:
        """The EBADFD of a call its state does not allow (``-EBADFD`` in the kernel)."""
        state = self.runtime.state.name if self.runtime is not None else "closed"
        return PcmError(errno.EBADFD, f"{self.name}: {what + ' in ' if what else ''}state "
                        f"{state}")

    def _rt(self) -> PcmRuntime:
        if self.runtime is None:
            raise PcmError(errno.EBADFD, f"{self.name}: not open")
        return self.runtime

    @property
    def format(self) -> PcmFormat:
        return BY_NUMBER[self._rt().format]

    @property
    def frame_bytes(self) -> int:
        return self._rt().frame_bits // 8

    def _trace(self, event: str, fields: dict) -> None:
        for trace in self.tracepoints:
            trace(event, self, fields)

    def _running(self) -> bool:
        """Called with the runtime there (every caller has checked it)."""
        rt = self.runtime
        assert rt is not None
        return rt.state == _RUNNING or (
            rt.state == _DRAINING and self.is_playback)

    def _update_hw_ptr(self, in_interrupt: bool) -> Update:
        """Called with the stream lock held and the runtime there."""
        rt = self.runtime
        assert rt is not None
        pos = self.ops.pointer(self)
        fill = None
        if self.is_playback and rt.silence_size > 0:
            fill = self._playback_silence
        tps = self.tracepoints
        res = update_hw_ptr(rt, pos, in_interrupt, fill, self.clock.now_ns, self.debug_name,
                            self._trace if tps else None)
        for trace in tps:
            trace("hwptr_updated", self, {"in_interrupt": in_interrupt, "hw_ptr": rt.hw_ptr})
        if res is _U_XRUN or res is _U_DRAIN_DONE:
            self._act(res)
        return res

    def _apply_appl_ptr(self, appl: int) -> None:
        """``pcm_lib_apply_appl_ptr``: move appl_ptr (wrapped at the boundary); applptr."""
        rt = self._rt()
        prev = rt.appl_ptr
        rt.appl_ptr = appl - rt.boundary if appl >= rt.boundary else appl
        if self.tracepoints:
            self._trace("applptr", {"prev": prev, "curr": rt.appl_ptr})

    def period_elapsed(self) -> None:
        """``snd_pcm_period_elapsed``: called by the driver at each period boundary."""
        with self.lock:
            if self.runtime is None or not self._running():
                return
            self._update_hw_ptr(True)

    def _fill_silence(self, ofs: int, frames: int) -> None:
        rt = self._rt()
        fb = rt.frame_bits // 8
        assert self.dma_area is not None
        self.dma_area[ofs * fb : (ofs + frames) * fb] = silence(self.format, frames,
                                                                rt.channels)

    def _playback_silence(self, new_hw_ptr: int) -> None:
        """``snd_pcm_playback_silence`` (mainline since 6.4): threshold mode keeps
        ``silence_threshold`` frames of data-or-silence ahead of the new hw_ptr; top-up
        mode silences what was just played. ``ULONG_MAX`` initialises (start, reset,
        sw_params)."""
        rt = self._rt()
        if rt.silence_size < rt.boundary:
            appl_ptr = rt.appl_ptr
            self._update_silence_vars(rt.silence_start, appl_ptr)
            if new_hw_ptr == ULONG_MAX:  # initialisation outside a pointer update
                new_hw_ptr = rt.hw_ptr
            noise_dist = appl_ptr - new_hw_ptr
            if noise_dist < 0:
                noise_dist += rt.boundary
            noise_dist += rt.silence_filled
            if noise_dist >= rt.silence_threshold:
                return
            frames = min(rt.silence_threshold - noise_dist, rt.silence_size)
        else:
            hw_ptr = rt.hw_ptr
            if new_hw_ptr == ULONG_MAX:  # initialisation: the whole unused ring
                avail = rt.appl_ptr - hw_ptr
                if avail < 0:
                    avail += rt.boundary
                rt.silence_filled = 0 if avail > rt.buffer_size else avail
                rt.silence_start = hw_ptr
            else:  # silence what was just played
                self._update_silence_vars(hw_ptr, new_hw_ptr)
            frames = rt.buffer_size - rt.silence_filled  # silence_filled counts data too
        if frames <= 0 or frames > rt.buffer_size:
            return
        ofs = (rt.silence_start + rt.silence_filled) % rt.buffer_size
        while frames > 0:
            transfer = min(frames, rt.buffer_size - ofs)
            self._fill_silence(ofs, transfer)
            rt.silence_filled += transfer
            frames -= transfer
            ofs = 0

    def _update_silence_vars(self, ptr: int, new_ptr: int) -> None:
        """``update_silence_vars``: what moved past ``silence_start`` is no longer silence
        filled by the core."""
        rt = self._rt()
        delta = new_ptr - ptr
        if delta == 0:
            return
        if delta < 0:
            delta += rt.boundary
        rt.silence_filled = rt.silence_filled - delta if delta < rt.silence_filled else 0
        rt.silence_start = new_ptr

    def wait_time_ns(self) -> int:
        """How long a blocked read or write waits before EIO: the driver's ``wait_time``,
        else max(100 ms, 1.1 buffer times), as in the kernel's ``wait_for_avail``."""
        rt = self._rt()
        ms = self.wait_time_ms or max(100, rt.buffer_size * 1100 // max(rt.rate, 1))
        return ms * 1_000_000

    def _wait(self, cond: Callable[[], bool]) -> bool:
        """Sleep without the stream lock until ``cond`` or the timeout."""
        return self.clock.wait_until(cond, self.wait_time_ns())

    def _wait_for_avail(self) -> int:
        """``wait_for_avail``: frames available once ``twake`` are, or the state's errno.
        Returns 0 for a draining capture (the caller then stops)."""
        rt = self._rt()
        while True:
            avail = rt.avail()
            if avail >= rt.twake:
                return avail
            state = rt.state
            if self.tracepoints:
                self._trace("sched_out", {})  # the writer sleeps (schedule_timeout)
            self.lock.release()
            try:
                woke = self._wait(_woken(rt, state))
            finally:
                self.lock.acquire()
                if self.tracepoints:
                    self._trace("sched_in", {})
            if rt.state == _SUSPENDED:
                raise PcmError(errno.ESTRPIPE, f"{self.name}: suspended")
            if rt.state == _XRUN:
                raise PcmError(errno.EPIPE, f"{self.name}: xrun")
            if rt.state == _DRAINING:
                if self.is_playback:
                    raise PcmError(errno.EPIPE, f"{self.name}: draining")
                return 0
            if rt.state in (_OPEN, _SETUP, _DISCONNECTED):
                raise self._badfd()
            if rt.state == _PAUSED:
                continue
            if not woke and rt.avail() < rt.twake:
                rt.log.append(f"{'playback write' if self.is_playback else 'capture read'} "
                              "error (DMA or IRQ trouble?)")
                raise PcmError(errno.EIO, f"{self.name}: "
                               f"{'playback write' if self.is_playback else 'capture read'} "
                               "timed out (DMA or IRQ trouble?)")

    def _sanity_check(self) -> None:
        """``pcm_sanity_check``: EBADFD before hw_params (OPEN)."""
        rt = self.runtime
        if rt is None or rt.state == _OPEN:
            raise self._badfd("transfer")

    def _check_accessible(self) -> None:
        """``pcm_accessible_state``: raise the errno of a state that cannot transfer."""
        rt = self.runtime
        if rt is None:
            raise PcmError(errno.EBADFD, f"{self.name}: not open")
        s = rt.state
        if s in (_PREPARED, _RUNNING, _PAUSED):
            return
        if s == _XRUN:
            raise PcmError(errno.EPIPE, f"{self.name}: xrun (call prepare to recover)")
        if s == _SUSPENDED:
            raise PcmError(errno.ESTRPIPE, f"{self.name}: suspended")
        if s == _DISCONNECTED:
            raise PcmError(errno.ENODEV, f"{self.name}: disconnected")
        raise self._badfd("transfer")

    def _xfer(self, size: int, copy: Callable[[int, int, int], None], nonblock: bool) -> int:
        """``__snd_pcm_lib_xfer``: move ``size`` frames with ``copy(ofs, done, n)``."""
        rt = self._rt()
        if size == 0:
            return 0
        xfer = 0
        err: PcmError | None = None
        with self.lock:
            self._check_accessible()
            rt.twake = rt.avail_min or 1
            if rt.state == _RUNNING:
                self._update_hw_ptr(False)
            try:
                if (not self.is_playback and rt.state == _PREPARED
                        and size >= rt.start_threshold):
                    self._start(_RUNNING)
                avail = rt.avail()
                while size > 0:
                    if avail == 0:
                        if not self.is_playback and rt.state == _DRAINING:
                            self._stop(_SETUP)
                            break
                        if nonblock:
                            raise PcmError(errno.EAGAIN, f"{self.name}: would block")
                        rt.twake = min(size, rt.avail_min or 1)
                        avail = self._wait_for_avail()
                        if avail == 0:
                            continue
                    self._check_accessible()  # an xrun may have struck while we slept
                    frames = min(size, avail)
                    ofs = rt.appl_ptr % rt.buffer_size
                    frames = min(frames, rt.buffer_size - ofs)
                    copy(ofs, xfer, frames)
                    self._apply_appl_ptr(rt.appl_ptr + frames)
                    xfer += frames
                    size -= frames
                    avail -= frames
                    if (self.is_playback and rt.state == _PREPARED
                            and rt.hw_avail() >= rt.start_threshold):
                        self._start(_RUNNING)
            except PcmError as e:
                err = e
            rt.twake = 0
            if xfer > 0 and err is None:  # in any state: a prepared stream can xrun too
                self._act(update_state(rt))
        if xfer > 0:
            return xfer
        if err is not None:
            raise err
        return 0

    def writei(self, data: np.ndarray | bytes, nonblock: bool = False) -> int:
        """``snd_pcm_lib_write``: interleaved frames into the ring; returns frames written.

        ``data`` is ``(frames, channels)`` in the sample format, or raw bytes."""
        if not self.is_playback:
            raise PcmError(errno.EINVAL, f"{self.name}: writei on a capture stream")
        self._sanity_check()
        fb = self.frame_bytes
        raw = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else (
            np.ascontiguousarray(data).reshape(-1).view(np.uint8))
        if raw.size % fb:
            raise PcmError(errno.EINVAL, f"{self.name}: {raw.size} bytes is not whole frames "
                           f"of {fb} bytes")
        if raw.size == 0:
            return 0  # before the state's check, as __snd_pcm_lib_xfer returns it
        self._check_accessible()
        area = self.dma_area
        assert area is not None

        def copy(ofs: int, done: int, n: int) -> None:
            area[ofs * fb : (ofs + n) * fb] = raw[done * fb : (done + n) * fb]

        return self._xfer(raw.size // fb, copy, nonblock)

    def readi(self, frames: int, nonblock: bool = False) -> np.ndarray:
        """``snd_pcm_lib_read``: up to ``frames`` frames as ``(n, channels)``."""
        if self.is_playback:
            raise PcmError(errno.EINVAL, f"{self.name}: readi on a playback stream")
        self._sanity_check()
        rt = self._rt()
        fb = self.frame_bytes
        if frames == 0:
            return np.empty((0, rt.channels), self.format.dtype)  # before the state's check
        self._check_accessible()
        out = np.empty(frames * fb, np.uint8)
        area = self.dma_area
        assert area is not None

        def copy(ofs: int, done: int, n: int) -> None:
            out[done * fb : (done + n) * fb] = area[ofs * fb : (ofs + n) * fb]

        n = self._xfer(frames, copy, nonblock)
        return out[: n * fb].view(self.format.dtype).reshape(n, rt.channels)
