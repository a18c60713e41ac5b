"""hw_ptr/appl_ptr/boundary arithmetic and the hw_ptr update rules of pcm_lib.c."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcm.pcm_lib import Update, update_hw_ptr
from pcm.runtime import LONG_MAX, PcmRuntime, PcmState, PcmStream, compute_boundary

P, C = PcmStream.PLAYBACK, PcmStream.CAPTURE


@given(st.integers(1, 1 << 20), st.sampled_from([LONG_MAX, 2**31 - 1, 2**24]))
def test_boundary_is_the_largest_power_of_two_multiple(buffer_size, limit):
    b = compute_boundary(buffer_size, limit)
    assert b % buffer_size == 0 and (b // buffer_size) & (b // buffer_size - 1) == 0
    assert b <= limit - buffer_size or b == buffer_size
    assert b * 2 > limit - buffer_size


@given(st.integers(2, 4096), st.data())
def test_avail_formulas_against_distance(buffer_size, data):
    boundary = compute_boundary(buffer_size, buffer_size * 64)
    hw = data.draw(st.integers(0, boundary - 1))
    queued = data.draw(st.integers(0, buffer_size))  # frames written and not yet played
    rt = PcmRuntime(P, buffer_size, 1, boundary=boundary, hw_ptr=hw,
                    appl_ptr=(hw + queued) % boundary)
    assert rt.playback_avail() == buffer_size - queued
    assert rt.hw_avail() == queued
    captured = data.draw(st.integers(0, buffer_size))  # frames captured and not yet read
    rc = PcmRuntime(C, buffer_size, 1, boundary=boundary, hw_ptr=hw,
                    appl_ptr=(hw - captured) % boundary)
    assert rc.capture_avail() == captured


@given(st.lists(st.integers(0, 1023), min_size=1, max_size=400))
def test_hw_ptr_follows_the_true_position_across_ring_and_boundary_wraps(steps):
    """Positions from a ring of 1024 frames, moving less than a buffer at a time (a
    position cannot tell more from less by a whole ring):
    hw_ptr is always the true frame count modulo the boundary (small limit to wrap it)."""
    buffer_size, period = 1024, 256
    rt = PcmRuntime(C, buffer_size, period, boundary=compute_boundary(buffer_size, 10_000),
                    stop_threshold=LONG_MAX, state=PcmState.RUNNING)
    assert rt.boundary == 8192
    true = 0
    for step in steps:
        true += step
        rt.appl_ptr = rt.hw_ptr  # a reader that keeps up, so no xrun
        result = update_hw_ptr(rt, true % buffer_size, in_interrupt=False)
        assert result != Update.IGNORED
        assert rt.hw_ptr == true % rt.boundary
        assert rt.hw_ptr_wrap == true // rt.boundary * rt.boundary


def test_a_jump_of_buffer_plus_period_is_reported_and_ignored():
    """Positions alone move less than a buffer; a base a whole ring ahead of hw_ptr (what
    a driver that lost track would produce) makes delta >= buffer + period."""
    rt = PcmRuntime(C, 1024, 256, state=PcmState.RUNNING, stop_threshold=LONG_MAX)
    rt.hw_ptr_base = 1024
    assert update_hw_ptr(rt, 256, True) == Update.IGNORED
    assert rt.hw_ptr == 0 and rt.hw_ptr_base == 1024
    assert rt.log[-1] == ("PCM: [Q] Unexpected hw_ptr: (stream=1, pos=256, new_hw_ptr=1280, "
                          "old_hw_ptr=0)")  # hw_ptr_error's text, as pcm_lib.c prints it
    ok = PcmRuntime(C, 1024, 256, state=PcmState.RUNNING, stop_threshold=LONG_MAX)
    ok.hw_ptr_base = 1024
    assert update_hw_ptr(ok, 255, True) != Update.IGNORED  # delta 1279 < 1280: accepted
    assert ok.hw_ptr == 1279


def test_lost_interrupts_are_reported_but_applied():
    rt = PcmRuntime(C, 1024, 256, state=PcmState.RUNNING, stop_threshold=LONG_MAX)
    update_hw_ptr(rt, 385, True)  # 385 > 1.5 * 256
    assert rt.hw_ptr == 385
    assert rt.log[-1] == ("PCM: [Q] Lost interrupts?: (stream=1, delta=385, new_hw_ptr=385, "
                          "old_hw_ptr=0)")
    assert rt.hw_ptr_interrupt == 256
    update_hw_ptr(rt, 512, True)
    assert len(rt.log) == 1 and rt.hw_ptr_interrupt == 512


def test_position_past_the_buffer_is_a_driver_bug_read_as_zero():
    rt = PcmRuntime(C, 1024, 256, state=PcmState.RUNNING, stop_threshold=LONG_MAX)
    update_hw_ptr(rt, 1000, False)
    rt.appl_ptr = rt.hw_ptr
    update_hw_ptr(rt, 1024, False, debug_name="pcmC0D0c:0")
    assert rt.log[-1] == ("invalid position: pcmC0D0c:0, pos = 1024, buffer size = 1024, "
                          "period size = 256")  # as snd_pcm_update_hw_ptr0 reports it
    assert rt.hw_ptr == 1024


@pytest.mark.parametrize("stop_threshold", [1024, 700, 1])
def test_playback_xrun_exactly_when_avail_reaches_stop_threshold(stop_threshold):
    rt = PcmRuntime(P, 1024, 256, state=PcmState.RUNNING, stop_threshold=stop_threshold)
    rt.appl_ptr = 1024  # a full buffer queued, then the writer stalls
    for frame in range(1, 2048):
        result = update_hw_ptr(rt, frame % 1024, in_interrupt=False)
        if result == Update.XRUN:
            break
    assert rt.playback_avail() == stop_threshold and frame == stop_threshold


def test_capture_xrun_when_the_reader_falls_a_buffer_behind():
    rt = PcmRuntime(C, 1024, 256, state=PcmState.RUNNING)
    results = [update_hw_ptr(rt, f % 1024, False) for f in range(100, 1200, 100)]
    assert results[-1] == Update.XRUN and results[-2] == Update.WAKE
    assert rt.hw_ptr == 1100 and rt.capture_avail() == 1100


def test_draining_playback_is_done_when_everything_played():
    rt = PcmRuntime(P, 1024, 256, state=PcmState.DRAINING)
    rt.appl_ptr = 600
    assert update_hw_ptr(rt, 599, False) != Update.DRAIN_DONE
    assert update_hw_ptr(rt, 600, False) == Update.DRAIN_DONE


def test_wake_when_avail_reaches_avail_min():
    rt = PcmRuntime(P, 1024, 256, state=PcmState.RUNNING)
    rt.appl_ptr = 1024
    assert update_hw_ptr(rt, 255, True) == Update.NONE
    assert update_hw_ptr(rt, 256, True) == Update.WAKE


@pytest.mark.parametrize("late_ms,hw_ptr,update", [(10, 3584, Update.NONE),
                                                   (120, 7680, Update.XRUN)])
def test_a_late_interrupt_that_finds_the_ring_wrapped_adds_a_lap(late_ms, hw_ptr, update):
    """The double-acknowledged-interrupt check. The last interrupt left hw_ptr at 3072
    in a full 4096-frame ring; the next one reads position 3584, less than a period on.
    Prompt (10 ms later) that is 512 frames of progress. Later than half a buffer time
    (42.7 ms / 2 + 1 jiffy), it means the DMA went a whole lap more: hw_ptr 7680, an xrun."""
    rt = PcmRuntime(P, 4096, 1024, state=PcmState.RUNNING, hw_ptr=3072, appl_ptr=3072 + 4096,
                    hw_ptr_interrupt=3072, rate=48000, hw_ptr_buffer_jiffies=4096 * 250 // 48000)
    pos = hw_ptr % 4096
    got = update_hw_ptr(rt, pos, in_interrupt=True, now_ns=late_ms * 1_000_000)
    assert (rt.hw_ptr, got) == (hw_ptr, update)
