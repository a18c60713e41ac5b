"""The hw_ptr update and the state changes it causes.

Counterpart: ``snd_pcm_update_hw_ptr0`` and ``snd_pcm_update_state`` in
sound/core/pcm_lib.c. Called with the driver's position (``pointer()``, in frames) from
``period_elapsed`` (``in_interrupt=True``) and from every read, write and status call.

Of the kernel's jiffies checks the model keeps the one for double-acknowledged
interrupts: an interrupt whose position looks less than a period on, more than half a
buffer time after the last update, means the ring wrapped (a late or lost interrupt), so
a buffer is added. Jiffies are the clock's time at ``HZ``. The optional
XRUN_DEBUG_JIFFIESCHECK ("hw_ptr skipping") is left out: positions come from the DMA's
residue on the same clock, so they cannot run ahead of time.
Silence filling (step 5 of the update) belongs to the playback substream, which owns the
ring; :func:`update_hw_ptr` reports the new pointer before the state update so that the
caller can fill first.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from pcm.runtime import PcmRuntime, PcmState
from soc.clock import HZ, jiffies

__all__ = ["HZ", "Update", "jiffies", "update_hw_ptr", "update_state"]


class Update(Enum):
    """What the update asks of the caller, after the pointers moved."""

    NONE = "none"
    WAKE = "wake"  # avail reached avail_min: wake the waiting reader/writer
    XRUN = "xrun"  # avail reached stop_threshold: stop the stream in XRUN
    DRAIN_DONE = "drain-done"  # a draining playback ran dry: stop, state SETUP
    IGNORED = "ignored"  # an impossible position: nothing was updated


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
        return Update.IGNORED
    if delta > rt.period_size + rt.period_size // 2:
        rt.log.append(f"{_where(in_interrupt)} Lost interrupts?: (stream={int(rt.stream)}, "
                      f"delta={delta}, new_hw_ptr={new_hw_ptr}, old_hw_ptr={old_hw_ptr})")
        if trace is not None:
            trace("hw_ptr_error", {"reason": "Lost interrupts?"})
    rt.hw_ptr_jiffies = curr_jiffies
    if new_hw_ptr == old_hw_ptr:
        return Update.NONE
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
    if rt.state == PcmState.DRAINING:
        if avail >= rt.buffer_size:
            return Update.DRAIN_DONE
    elif avail >= rt.stop_threshold:
        return Update.XRUN
    if avail >= rt.avail_min:
        return Update.WAKE
    return Update.NONE
