"""The PCM substream on the virtual clock: states and errnos, hw_params refinement, xrun,
prepare, drain, pause, silence, and what reaches the card."""

from __future__ import annotations

import errno
import threading
import time

import numpy as np
import pytest

from pcm import alsa
from pcm import params as hp
from pcm.errors import ParamError, PcmError
from pcm.pcm_lib import HZ, jiffies
from pcm.pcm_native import INFO_RESUME, SwParams
from pcm.runtime import PcmState, PcmStream
from soc.board import I2S_BASE, make_audio_board
from soc.clock import RealtimeClock
from soc.dw_i2s import TXFLR
from tests.conftest import skip_without_pause, spied_platform

S = PcmState


def _open(stream=PcmStream.PLAYBACK, period=1024, periods=4, **kw) -> alsa.Pcm:
    pcm = alsa.open_pcm("default", stream, **kw)
    pcm.set_params("S16_LE", 2, 48000, period_size=period, periods=periods)
    return pcm


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, (n, 2)).astype("<i2")


def _playing(board) -> alsa.Pcm:
    """A playback with a full ring, 10 ms into its run."""
    pcm = _open()
    pcm.prepare()
    pcm.writei(_frames(4096))
    board.soc.clock.run_for(10_000_000)
    return pcm


def _errno(fn, *args) -> int:
    with pytest.raises(PcmError) as e:
        fn(*args)
    return e.value.errno


def test_legal_transitions(audio_board):
    skip_without_pause(audio_board)
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    assert pcm.state == S.OPEN
    pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
    assert pcm.state == S.SETUP
    pcm.prepare()
    assert pcm.state == S.PREPARED
    pcm.writei(_frames(1024))  # start_threshold 1: the write starts it
    assert pcm.state == S.RUNNING
    pcm.pause(True)
    assert pcm.state == S.PAUSED
    pcm.pause(False)
    assert pcm.state == S.RUNNING
    pcm.drop()
    assert pcm.state == S.SETUP
    pcm.prepare()
    pcm.writei(_frames(512))
    pcm.drain()
    assert pcm.state == S.SETUP
    pcm.substream.hw_free()
    assert pcm.state == S.OPEN
    pcm.close()


def test_illegal_calls_raise_the_kernels_errno(audio_board):
    skip_without_pause(audio_board)
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    assert _errno(pcm.prepare) == errno.EBADFD  # OPEN
    assert _errno(pcm.substream.sw_params, SwParams()) == errno.EBADFD
    pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
    assert _errno(pcm.writei, _frames(8)) == errno.EBADFD  # SETUP
    assert _errno(pcm.start) == errno.EBADFD  # start only from PREPARED
    assert _errno(pcm.pause, True) == errno.EBADFD  # pause only while RUNNING
    pcm.prepare()
    assert _errno(pcm.start) == errno.EPIPE  # an empty playback cannot start
    pcm.writei(_frames(4096))
    assert _errno(pcm.prepare) == errno.EBUSY  # running
    assert _errno(pcm.pause, False) == errno.EBADFD  # not paused
    assert _errno(pcm.substream.hw_params) == errno.EBADFD  # running
    extra = 0
    with pytest.raises(PcmError) as e:  # the ring is full but for what the DMA took
        for _ in range(10):
            extra += pcm.substream.writei(_frames(8), nonblock=True)
    assert e.value.errno == errno.EAGAIN and extra <= 64
    pcm.close()


def test_capture_has_no_writei_and_drain_ends_in_setup(audio_board):
    pcm = _open(PcmStream.CAPTURE)
    pcm.prepare()
    assert _errno(pcm.substream.writei, _frames(8)) == errno.EINVAL
    got = pcm.readi(2048)  # starts (size >= start_threshold) and blocks on the clock
    assert got.shape == (2048, 2) and pcm.state == S.RUNNING
    audio_board.soc.clock.run_for(_ns_at(1100))  # a period more is ready
    pcm.drain()  # frames were ready: stopped into DRAINING (snd_pcm_do_drain_init)
    assert pcm.state == S.DRAINING
    # __snd_pcm_lib_xfer's pcm_accessible_state: a DRAINING capture is not read
    assert _errno(pcm.readi, 4096) == errno.EBADFD and pcm.state == S.DRAINING
    pcm.drop()
    assert pcm.state == S.SETUP
    pcm.close()


def test_hw_params_refuse_names_the_parameter(audio_board):
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    with pytest.raises(ParamError) as e:
        pcm.set_params("S16_LE", 2, 12345)
    assert e.value.param == "RATE" and e.value.errno == errno.EINVAL
    assert str(e.value).endswith("(the nearest rate the hardware takes: 11025)")
    with pytest.raises(ParamError) as e:
        pcm.set_params("U8", 2, 48000)
    assert e.value.param == "FORMAT"
    with pytest.raises(ParamError) as e:
        pcm.set_params("S16_LE", 9, 48000)
    assert e.value.param == "CHANNELS"
    with pytest.raises(ParamError) as e:  # period_bytes_max = the PL080's segment size
        pcm.set_params("S32_LE", 8, 48000, period_size=4096)
    assert e.value.param == "PERIOD_SIZE"
    with pytest.raises(ParamError) as e:
        pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=1)
    assert e.value.param == "PERIODS"
    with pytest.raises(ParamError) as e:  # 3.5 periods: the ratio prints as alsa-lib's (3 4)
        pcm.set_params("S16_LE", 2, 48000, period_size=1000, buffer_size=3500)
    assert e.value.param == "PERIODS"
    assert str(e.value).endswith("no PERIODS can meet the constraints (was [2 131], the rules "
                                 "ask (3 4))")
    assert pcm.state == S.OPEN
    pcm.close()


@pytest.mark.parametrize("fmt, channels, rate, asked, period, periods", [
    ("S16_LE", 2, 48000, {}, 6000, 4),  # aplay: 500 ms at most, a quarter a period
    ("S16_LE", 2, 44100, {}, 5512, 4),
    ("S32_LE", 8, 48000, {}, 2048, 4),  # period_bytes_max 64 KiB caps the period
    ("S16_LE", 2, 48000, {"period_size": 1000}, 1000, 4),
    ("S16_LE", 2, 48000, {"buffer_size": 8192}, 2048, 4),  # aplay's quarter buffer
    ("S16_LE", 2, 48000, {"buffer_size": 1001, "periods": 7}, 143, 7),
    ("S16_LE", 2, 48000, {"periods": 8}, 3000, 8),
    ("S16_LE", 2, 48000, {"buffer_size": 8192, "periods": 2}, 4096, 2),
])
def test_set_params_picks_the_geometry_as_aplay(audio_board, fmt, channels, rate, asked, period,
                                                 periods):
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    p = pcm.set_params(fmt, channels, rate, **asked)
    assert (p.get("PERIOD_SIZE"), p.get("PERIODS"), p.get("BUFFER_SIZE")) == (
        period, periods, period * periods)
    assert (pcm.runtime.period_size, pcm.runtime.buffer_size) == (period, period * periods)
    pcm.close()


def test_a_buffer_of_no_whole_number_of_periods_is_refused(audio_board):
    """The refinement allows BUFFER_SIZE 1001 in 4 periods (PERIOD_SIZE (250, 251) is not
    an integer interval); no cyclic ring is made of it, so set_params says so at once."""
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    p = pcm.hw_params_any()
    p.set_minmax("BUFFER_SIZE", 1001, 1001)
    p.set_minmax("PERIODS", 4, 4)
    ps = pcm.substream.hw_refine(p)["PERIOD_SIZE"]  # the kernel's answer: 250.25, not empty
    assert (ps.min, ps.max, ps.openmin, ps.openmax, ps.integer) == (250, 251, True, True, False)
    with pytest.raises(ParamError) as e:
        pcm.set_params("S16_LE", 2, 48000, buffer_size=1001)
    assert e.value.param == "BUFFER_SIZE" and e.value.errno == errno.EINVAL
    assert str(e.value).endswith("BUFFER_SIZE 1001 does not divide into 4 periods; the "
                                 "cyclic DMA needs whole periods")
    assert pcm.state == S.OPEN
    pcm.close()


def test_rate_near_is_alsa_libs_nearest(audio_board):
    """``snd_pcm_hw_params_set_rate_near`` over the DAI's rate list: the nearer of the
    first rate above and the last below, the one above on a tie; nothing is set."""
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    near = [pcm.rate_near("S16_LE", 2, r) for r in (12345, 7, 200000, 44100, 46049, 46050)]
    assert near == [11025, 8000, 192000, 44100, 44100, 48000]
    assert pcm.state == S.OPEN
    pcm.close()


def test_an_interval_prints_as_alsa_lib_prints_it():
    from pcm.params import UINT_MAX, Interval

    assert [str(Interval(1, 0)), str(Interval(5, 5, openmin=True)), str(Interval(8, 9))] == [
        "NONE", "NONE", "[8 9]"]
    assert str(Interval(0, UINT_MAX)) == "ALL"
    # one number only for a single integer interval; 250.25 frames is not one
    assert [str(Interval(3, 3, integer=True)), str(Interval(3, 4, openmin=True, integer=True)),
            str(Interval(250, 251, openmin=True, openmax=True))] == ["3", "4", "(250 251)"]


def test_refinement_ties_bytes_time_and_frames(audio_board):
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    p = pcm.set_params("S24_LE", 6, 44100, period_size=441, periods=3)
    assert (p.get("SAMPLE_BITS"), p.get("FRAME_BITS")) == (32, 192)  # S24_LE lives in 32 bits
    assert (p.get("PERIOD_BYTES"), p.get("BUFFER_SIZE"), p.get("BUFFER_BYTES")) == (
        441 * 24, 1323, 1323 * 24)
    assert p.get("PERIOD_TIME") == 10000 and p["PERIOD_TIME"].single()
    # period bytes: maxburst 16 * 8 .. dma_get_max_seg_size(), 64 KiB as the PL08x sets none
    space = pcm.substream.hw_refine()
    assert (space["PERIOD_BYTES"].min, space["PERIOD_BYTES"].max) == (128, 65536)
    assert space["PERIODS"].min == 2 and space["PERIODS"].integer
    pcm.close()


def test_interval_arithmetic_matches_pcm_lib():
    a, b = hp.Interval(10, 20), hp.Interval(3, 4)
    c = hp.div(a, b)  # [10/4, 20/3] = (2, 7)
    assert (c.min, c.max, c.openmin, c.openmax) == (2, 7, True, True)
    c = hp.mulkdiv(hp.Interval(1024, 1024), 1_000_000, hp.Interval(48000, 48000))
    assert (c.min, c.max, c.openmin, c.openmax) == (21333, 21334, True, True)
    i = hp.Interval(2, 7, True, True)
    i.refine(hp.Interval(0, hp.UINT_MAX, integer=True))
    assert (i.min, i.max, i.openmin, i.openmax) == (3, 6, False, False)


def test_a_position_past_the_ring_is_reported_with_the_substream_name(audio_board):
    pcm = _open(PcmStream.CAPTURE)
    pcm.prepare()
    ss = pcm.substream
    with spied_platform(ss, pointer=lambda s: s.runtime.buffer_size):  # a driver bug
        pcm.start()
        ss.period_elapsed()
    assert ss.runtime.log == ["invalid position: pcmC0D0c:0, pos = 4096, buffer size = 4096, "
                              "period size = 1024"]  # read as 0: nothing moved
    assert ss.runtime.hw_ptr == 0 and pcm.state == S.RUNNING


def test_xrun_exactly_when_avail_reaches_stop_threshold_and_prepare_recovers(audio_board):
    pcm = _open()
    clock = audio_board.soc.clock
    pcm.prepare()
    pcm.writei(_frames(4096))
    rt = pcm.runtime
    # a stalled writer: the ring plays out; at the period boundary where avail reaches
    # stop_threshold (4096) the stream stops in XRUN with hw_ptr exactly there
    clock.run_until_true(lambda: pcm.state == S.XRUN, 10**9)
    assert pcm.state == S.XRUN and rt.hw_ptr >= 4096 and rt.xruns == 1
    assert rt.log == ["XRUN: pcmC0D0p:0"]  # as the kernel logs it
    assert rt.avail() >= rt.stop_threshold
    assert rt.hw_ptr - 4096 < 64  # caught at the first interrupt past the end
    assert _errno(pcm.writei, _frames(8)) == errno.EPIPE
    pcm.prepare()
    assert pcm.state == S.PREPARED and rt.hw_ptr == 0 and rt.appl_ptr == 0
    assert pcm.writei(_frames(1024)) == 1024 and pcm.state == S.RUNNING
    pcm.close()


def test_stop_threshold_below_buffer_stops_earlier(audio_board):
    pcm = _open()
    pcm.sw_params(stop_threshold=2048)
    pcm.prepare()
    pcm.writei(_frames(4096))
    clock = audio_board.soc.clock
    clock.run_until_true(lambda: pcm.state == S.XRUN, 10**9)
    rt = pcm.runtime
    assert 2048 <= rt.hw_ptr < 2048 + 64 and rt.appl_ptr - rt.hw_ptr <= 2048
    pcm.close()


def test_sw_params_checks(audio_board):
    pcm = _open()
    rt = pcm.runtime
    with pytest.raises(ParamError) as e:
        pcm.sw_params(silence_threshold=100, silence_size=200)
    assert e.value.param == "silence_size"
    with pytest.raises(ParamError) as e:
        pcm.sw_params(silence_threshold=rt.buffer_size + 1, silence_size=1)
    assert e.value.param == "silence_threshold"
    with pytest.raises(ParamError) as e:
        pcm.sw_params(silence_threshold=1, silence_size=rt.boundary)
    assert e.value.param == "silence_threshold"
    before = rt.avail_min
    with pytest.raises(ParamError) as e:  # snd_pcm_sw_params: EINVAL, nothing set
        pcm.sw_params(avail_min=0)
    assert e.value.param == "avail_min" and rt.avail_min == before
    pcm.close()


def _ns_at(frames: int) -> int:
    return frames * 1_000_000_000 // 48000


@pytest.mark.parametrize("call", ["hwsync", "avail", "delay"])
def test_an_xrun_found_by_hwsync_avail_or_delay_is_epipe(audio_board, call):
    """``do_pcm_hwsync`` returns what ``snd_pcm_update_hw_ptr`` returns: -EPIPE when that
    very update stopped the stream. stop_threshold half a period short of the buffer is
    crossed between interrupts, so the call's own update is the one that finds it."""
    pcm = _open()
    pcm.sw_params(stop_threshold=4096 - 512)
    pcm.prepare()
    assert pcm.writei(_frames(4096)) == 4096  # starts at the first frame
    audio_board.soc.clock.run_for(_ns_at(3700))  # interrupts at 1024, 2048, 3072: no xrun
    assert pcm.state == S.RUNNING
    assert _errno(getattr(pcm.substream, call)) == errno.EPIPE
    assert pcm.state == S.XRUN


def test_a_drain_ended_by_hwsync_is_epipe(audio_board):
    """A draining playback whose last frame the call's own update finds played ends its
    drain there (SETUP), and the call says -EPIPE, as ``snd_pcm_update_state`` returns."""
    pcm = _open()
    pcm.prepare()
    assert pcm.writei(_frames(4000)) == 4000
    ss = pcm.substream
    assert _errno(ss.drain, True) == errno.EAGAIN and pcm.state == S.DRAINING
    audio_board.soc.clock.run_for(_ns_at(4060))  # past frame 4000, short of 4096's IRQ
    assert pcm.state == S.DRAINING
    assert _errno(ss.hwsync) == errno.EPIPE
    assert pcm.state == S.SETUP


def test_drain_plays_every_frame_then_setup(audio_board):
    pcm = _open()
    pcm.prepare()
    data = _frames(10_000, 3)
    assert pcm.writei(data) == 10_000
    pcm.drain()
    assert pcm.state == S.SETUP
    tap = audio_board.soc.hw["codec0"].tapped()
    assert np.array_equal(tap[:10_000], data.astype(np.int32))
    assert not tap[10_000:].any()  # the drain silence: no stale ring after the end
    pcm.close()


def test_free_running_stream_replays_the_stale_ring_without_silence(audio_board):
    """stop_threshold = boundary: an underrun does not stop; the old ring plays again."""
    pcm = _open()
    pcm.sw_params(stop_threshold=pcm.runtime.boundary)
    pcm.prepare()
    data = _frames(4096, 5)
    pcm.writei(data)
    audio_board.soc.clock.run_for(200_000_000)  # 9600 frames: more than twice the ring
    tap = audio_board.soc.hw["codec0"].tapped()
    assert pcm.state == S.RUNNING
    assert np.array_equal(tap[4096:8192], data.astype(np.int32))  # the classic stutter
    pcm.close()


def test_top_up_silence_plays_silence_after_an_underrun(audio_board):
    pcm = _open()
    rt = pcm.runtime
    pcm.sw_params(stop_threshold=rt.boundary, silence_threshold=0, silence_size=rt.boundary)
    pcm.prepare()
    data = _frames(4096, 6)
    pcm.writei(data)
    audio_board.soc.clock.run_for(200_000_000)
    tap = audio_board.soc.hw["codec0"].tapped()
    assert np.array_equal(tap[:4096], data.astype(np.int32))
    # the just-played periods were silenced at each interrupt; what replays is silence,
    # apart from at most the period that was in flight when the data ran out
    assert not tap[4096 + 1024 + 64 : 9000].any()
    pcm.close()


def test_threshold_silence_keeps_silence_ahead_of_hw_ptr(audio_board):
    pcm = _open()
    pcm.sw_params(silence_threshold=2048, silence_size=2048)
    pcm.prepare()
    area = pcm.substream.dma_area
    area[:] = 0x55  # stale bytes
    pcm.writei(_frames(1024, 7))
    rt = pcm.runtime
    ring = area.view("<i2").reshape(-1, 2)
    # started with 1024 frames queued: the silence fills frames 1024..2047 of the ring
    assert not ring[1024:2048].any() and (ring[2048:] == 0x5555).all()
    assert rt.silence_filled == 1024
    pcm.close()


def test_nonblocking_write_partial_then_error(audio_board):
    pcm = _open(nonblock=True)
    pcm.prepare()
    first = pcm.writei(_frames(5000))
    assert 4096 <= first < 4096 + 64  # partial: the count (the DMA took a FIFO's worth)
    rest = pcm.writei(_frames(5000 - first))
    assert rest < 64
    assert _errno(pcm.writei, _frames(8)) == errno.EAGAIN  # the next call: the error
    pcm.close()


def test_write_timeout_is_eio(audio_board):
    """A DMA that never runs: the writer gives up after max(100 ms, 1.1 buffer_time)."""
    pcm = _open()
    pcm.sw_params(start_threshold=10**9)  # never starts
    pcm.prepare()
    pcm.writei(_frames(4096))
    assert _errno(pcm.writei, _frames(8)) == errno.EIO
    assert pcm.state == S.PREPARED
    assert "playback write error (DMA or IRQ trouble?)" in pcm.runtime.log[-1]
    pcm.close()


def test_delay_counts_queued_frames_and_the_fifo(audio_board):
    pcm = _playing(audio_board)
    rt = pcm.runtime
    d = pcm.delay()
    fifo = audio_board.soc.bus.read32(I2S_BASE + TXFLR)
    assert d == rt.hw_avail() + fifo and fifo > 0
    st = pcm.status()
    assert st.state == S.RUNNING and st.hw_ptr == rt.hw_ptr and st.appl_ptr == 4096
    pcm.close()


def test_soc_pointer_takes_the_delay_from_the_dais_alone(audio_board):
    """``soc_pcm_pointer`` sets runtime.delay to the CPU DAI's delay + the codec DAI's:
    whatever the platform's pointer put there (the dmaengine PCM's in-flight bytes) is
    replaced, as in mainline."""
    pcm = _playing(audio_board)
    platform_pointer = pcm.substream.ops.link.platform.pointer

    def pointer(ss):
        pos = platform_pointer(ss)
        ss.runtime.delay = 1000  # a provider reporting bytes in flight
        return pos

    with spied_platform(pcm.substream, pointer):
        d = pcm.delay()
    fifo = audio_board.soc.bus.read32(I2S_BASE + TXFLR)
    assert fifo > 0 and d == pcm.runtime.hw_avail() + fifo
    pcm.close()


def test_dumps_name_the_setup(audio_board):
    from pcm import proc

    pcm = _open()
    text = pcm.dump_setup()
    assert "period_size  : 1024" in text and "buffer_size  : 4096" in text
    assert "dst_maxburst=16" in text and "dst_addr=0x101401c8" in text
    assert proc.hw_params_text(pcm.substream).splitlines()[1] == "format: S16_LE"
    pcm.prepare()
    pcm.writei(_frames(1024))
    assert proc.status_text(pcm.substream).startswith("state: RUNNING")
    assert "stop_threshold: 4096" in proc.sw_params_text(pcm.substream)
    pcm.close()


@pytest.mark.parametrize("fmt, dtype, bits", [("S16_LE", "<i2", 16), ("S24_LE", "<i4", 24)])
def test_tap_keeps_each_word_length_exactly(audio_board, fmt, dtype, bits):
    """The tap keeps words up to 16 bits in int16 and wider ones in int32; either way
    ``tapped()`` gives back the line values exactly, the extremes included."""
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    pcm.set_params(fmt, 2, 48000, period_size=1024, periods=4)
    pcm.prepare()
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    data = np.random.default_rng(7).integers(lo, hi + 1, (5000, 2)).astype(dtype)
    data[:2] = [[lo, hi], [hi, lo]]
    pcm.writei(data)
    pcm.drain()
    tap = audio_board.soc.hw["codec0"].tapped()
    assert tap.dtype == np.int32
    assert np.array_equal(tap[:5000], data.astype(np.int32))
    pcm.close()


def test_clear_tap_while_a_stream_runs_keeps_tapping_it(audio_board):
    """``clear_tap`` forgets what was tapped; the running stream's next frames are kept."""
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
    pcm.prepare()
    data = np.random.default_rng(8).integers(1, 30000, (8192, 2)).astype("<i2")
    pcm.writei(data[:4096])  # the buffer full: the stream starts
    codec = audio_board.soc.hw["codec0"]
    codec.clear_tap()
    pcm.writei(data[4096:])
    pcm.drain()
    tap = codec.tapped()
    start = int(np.flatnonzero((tap == data[4096]).all(axis=1))[0])
    assert len(tap) > 0 and tap[:start].any()  # the first half's tail, still in flight
    # the last frames the DMA moved were still in the I2S FIFO when the drain stopped it
    assert np.array_equal(tap[start : start + 4000], data[4096:8096])
    pcm.close()
    # once no stream runs, a clear leaves nothing: a later stream of other channels
    # is the only one tapped
    codec.clear_tap()
    assert codec.tapped_streams() == []


def test_a_write_that_leaves_avail_at_stop_threshold_stops_a_prepared_stream(audio_board):
    """``__snd_pcm_lib_xfer`` ends with ``snd_pcm_update_state`` in any state: a write to
    a stream not started (start_threshold not reached) that still leaves avail at or
    past stop_threshold is an xrun, as it is in the kernel."""
    pcm = _open()
    pcm.sw_params(start_threshold=4096, stop_threshold=1024)
    pcm.prepare()
    assert pcm.writei(_frames(1024)) == 1024  # the frames were taken
    rt = pcm.runtime
    assert pcm.state == S.XRUN and rt.xruns == 1 and rt.log == ["XRUN: pcmC0D0p:0"]
    assert rt.appl_ptr == 1024 and rt.hw_ptr == 0
    assert _errno(pcm.writei, _frames(8)) == errno.EPIPE
    pcm.prepare()
    pcm.sw_params(stop_threshold=4096)
    assert pcm.writei(_frames(1024)) == 1024 and pcm.state == S.PREPARED
    pcm.close()


def test_status_reports_a_delay_only_while_running(audio_board):
    """``snd_pcm_status64`` gives ``delay`` only for a running stream (RUNNING, or a
    draining playback); the delay call (``snd_pcm_delay``) answers when paused too."""
    skip_without_pause(audio_board)
    pcm = _playing(audio_board)
    st = pcm.status()
    assert st.state == S.RUNNING and st.delay == pcm.delay() > 0
    pcm.pause(True)
    st = pcm.status()
    assert st.state == S.PAUSED and st.delay == 0
    assert pcm.delay() == pcm.runtime.hw_avail() + pcm.runtime.delay > 0
    pcm.close()


def test_reset_of_a_stream_its_own_update_stops_starts_the_ring_at_zero(audio_board):
    """``snd_pcm_lib_ioctl_reset`` keeps ``hw_ptr % buffer_size`` only when the hw_ptr
    update succeeds; an update that stops the stream (here an xrun found mid-period,
    with stop_threshold 1500) leaves hw_ptr 0, appl_ptr with it, and the state XRUN."""
    pcm = _open()
    pcm.sw_params(stop_threshold=1500)
    pcm.prepare()
    pcm.writei(_frames(4096))
    rt = pcm.runtime
    audio_board.soc.clock.run_until_true(lambda: rt.hw_ptr >= 1024, 10**9)  # the first period
    audio_board.soc.clock.run_for(15_000_000)  # 720 frames more: past 1500, short of 2048
    assert pcm.state == S.RUNNING and rt.hw_ptr == 1024
    pcm.substream.reset()  # snd_pcm_reset
    assert pcm.state == S.XRUN and rt.xruns == 1
    assert rt.hw_ptr == 0 and rt.appl_ptr == 0 and rt.hw_ptr_base == 0
    pcm.close()


def test_pause_push_leaves_hw_ptr_where_the_last_update_put_it(audio_board):
    """Since 6.5 ``snd_pcm_do_pause`` does not update hw_ptr on push: a paused stream
    reports the position of its last update (here the first period's interrupt), though
    the DMA stopped 10 ms further on. It sets ``hw_ptr_jiffies`` HZ * 1000 back, push and
    release alike. After the release the DMA goes on from where it stopped, and the next
    interrupt finds the next period boundary."""
    skip_without_pause(audio_board)
    pcm = _open()
    rt = pcm.runtime
    pcm.prepare()
    pcm.writei(_frames(4096))
    clock = audio_board.soc.clock
    clock.run_until_true(lambda: rt.hw_ptr >= 1024, 10**9)
    clock.run_for(10_000_000)
    pcm.pause(True)
    assert pcm.state == S.PAUSED and rt.hw_ptr == 1024
    assert rt.hw_ptr_jiffies == jiffies(clock.now_ns) - HZ * 1000
    st = pcm.status()
    assert st.hw_ptr == 1024 and st.avail == 1024  # status does not update when paused
    clock.run_for(50_000_000)
    pcm.pause(False)
    assert rt.hw_ptr == 1024 and rt.hw_ptr_jiffies == jiffies(clock.now_ns) - HZ * 1000
    clock.run_until_true(lambda: rt.hw_ptr > 1024, 10**9)
    assert rt.hw_ptr == 2048 and pcm.state == S.RUNNING
    pcm.close()


@pytest.mark.parametrize("action", ["drop", "suspend"])
def test_a_writer_blocked_in_real_time_wakes_when_another_thread_stops_the_stream(action):
    """``snd_pcm_post_stop`` and ``snd_pcm_post_suspend`` wake the waiters: a writer
    blocked for room returns at once, whatever the hardware does. Here the card (the
    virtual one, paced by the wall in real time) stops calling before the stop, so no
    step and no interrupt can wake the writer; the clock's poll is set to 30 s, so a
    wake-up that only came from the poll, or from the 60 s wait_time, fails the join."""
    clock = RealtimeClock()
    clock.poll_s = 30.0
    board = make_audio_board(clock=clock)
    board.populate()
    pcm = _open()
    try:
        pcm.substream.wait_time_ms = 60_000
        pcm.prepare()
        out: list = []

        def write() -> None:
            try:
                out.append(pcm.writei(_frames(48_000 * 10)))
            except PcmError as e:
                out.append(e.errno)

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 10
        while pcm.runtime.hw_ptr < 1024 and time.monotonic() < deadline:
            time.sleep(0.005)  # the stream is running and the writer waits for room
        assert pcm.state == S.RUNNING and writer.is_alive()
        board.soc.hw["codec0"].far_end.stop()  # the card's clock stops: time stands still
        pcm.drop() if action == "drop" else pcm.substream.suspend()
        writer.join(5.0)
        assert not writer.is_alive()
        assert out and 4096 <= out[0] < 48_000 * 10  # what it wrote before the stop
        assert pcm.state == (S.SETUP if action == "drop" else S.SUSPENDED)
    finally:
        pcm.close()
        board.remove()


def test_prepare_of_a_paused_stream_releases_stops_and_prepares(audio_board):
    """``snd_pcm_prepare`` on a PAUSED stream releases the pause and stops it (SETUP)
    before preparing, as the kernel does; it is no EBUSY."""
    skip_without_pause(audio_board)
    pcm = _open()
    pcm.prepare()
    pcm.writei(_frames(4096))
    audio_board.soc.clock.run_for(5_000_000)
    pcm.pause(True)
    pcm.prepare()
    rt = pcm.runtime
    assert pcm.state == S.PREPARED and rt.hw_ptr == 0 and rt.appl_ptr == 0
    data = _frames(2048, 5)
    assert pcm.writei(data) == 2048 and pcm.state == S.RUNNING
    pcm.drain()
    assert pcm.state == S.SETUP and rt.hw_ptr >= 2048
    pcm.close()


def test_nonblocking_drain_changes_state_then_says_eagain_in_any_state(audio_board):
    """The kernel's ``snd_pcm_drain`` makes its state change, then returns EAGAIN to any
    non-blocking caller; alsa-lib's returns at once for SETUP, where a drain ends."""
    pcm = _open(nonblock=True)
    ss = pcm.substream
    pcm.prepare()
    assert _errno(ss.drain, True) == errno.EAGAIN  # nothing queued: SETUP at once
    assert pcm.state == S.SETUP
    pcm.drain()  # alsa-lib: SETUP is a no-op state
    pcm.prepare()
    pcm.writei(_frames(2048))
    assert _errno(pcm.drain) == errno.EAGAIN and pcm.state == S.DRAINING
    audio_board.soc.clock.run_until_true(lambda: pcm.state != S.DRAINING, 10**9)
    assert pcm.state == S.SETUP and pcm.runtime.hw_ptr >= 2048
    pcm.drain()
    pcm.close()


def test_drain_of_a_suspended_stream_is_ebadfd(audio_board):
    """``snd_pcm_pre_drain_init`` refuses SUSPENDED with EBADFD."""
    pcm = _open()
    pcm.prepare()
    pcm.card.suspend_all()
    assert pcm.state == S.SUSPENDED
    assert _errno(pcm.substream.drain) == errno.EBADFD
    pcm.close()


def test_drop_leaves_the_dma_sync_to_the_next_prepare(audio_board):
    """``snd_pcm_drop`` stops the stream and returns; ``stop_operating`` stays set until
    ``snd_pcm_sync_stop`` runs in prepare (or hw_free, or close)."""
    pcm = _open()
    pcm.prepare()
    pcm.writei(_frames(4096))
    audio_board.soc.clock.run_for(5_000_000)
    pcm.drop()
    rt = pcm.runtime
    assert pcm.state == S.SETUP and rt.stop_operating
    pcm.prepare()
    assert not rt.stop_operating
    pcm.close()


def test_drain_of_a_played_out_free_running_stream_ends_at_the_next_interrupt(audio_board):
    """RUNNING -> DRAINING is a state change only (``snd_pcm_do_drain_init``): a free-running
    stream whose ring has played out ends its drain at the next period interrupt's hw_ptr
    update, not at once."""
    pcm = _open()
    pcm.sw_params(stop_threshold=pcm.runtime.boundary)
    pcm.prepare()
    pcm.writei(_frames(4096))
    rt, clock = pcm.runtime, audio_board.soc.clock
    clock.run_until_true(lambda: rt.hw_ptr >= 4096, 10**9)
    clock.run_for(10_000_000)  # 480 frames into the stale ring
    assert pcm.state == S.RUNNING and rt.hw_ptr < 4096 + 64
    pcm.substream.drain()
    assert pcm.state == S.SETUP and 5120 <= rt.hw_ptr < 5120 + 64
    pcm.close()


def test_drain_silence_stays_set_through_a_nonblocking_drain_until_prepare(audio_board):
    """alsa-lib's ``snd_pcm_hw_drain`` sets the drain silence in the kernel and leaves it
    there; its next prepare puts the application's sw_params back
    (``prepare_reset_sw_params``). The application's own view never changes."""
    pcm = _open(nonblock=True, period=256, periods=32)
    rt = pcm.runtime
    pcm.prepare()
    pcm.writei(_frames(1000))
    assert _errno(pcm.drain) == errno.EAGAIN and pcm.state == S.DRAINING
    # threshold one period + rate/10; size the rest of the last period + rate/10
    assert (rt.silence_threshold, rt.silence_size) == (256 + 4800, 24 + 4800)
    assert (pcm.sw_params_current().silence_threshold,
            pcm.sw_params_current().silence_size) == (0, 0)
    audio_board.soc.clock.run_until_true(lambda: pcm.state != S.DRAINING, 10**9)
    assert pcm.state == S.SETUP and rt.silence_size == 24 + 4800  # still the drain's
    pcm.prepare()
    assert (rt.silence_threshold, rt.silence_size) == (0, 0)
    pcm.close()


def test_drain_silence_leaves_a_larger_application_silence_alone(audio_board):
    pcm = _open(nonblock=True, period=256, periods=32)
    rt = pcm.runtime
    pcm.sw_params(silence_threshold=8192, silence_size=6000)
    pcm.prepare()
    pcm.writei(_frames(1000))
    assert _errno(pcm.drain) == errno.EAGAIN
    assert (rt.silence_threshold, rt.silence_size) == (8192, 6000)
    pcm.close()


def test_drain_silence_is_capped_by_the_buffer(audio_board):
    """A 4096-frame buffer: the threshold (1024 + 4800) is capped at the buffer, the size
    at the threshold, as the kernel's sw_params checks demand (size <= threshold <=
    buffer)."""
    pcm = _open(nonblock=True)
    rt = pcm.runtime
    pcm.prepare()
    pcm.writei(_frames(2148))
    assert _errno(pcm.drain) == errno.EAGAIN
    assert (rt.silence_threshold, rt.silence_size) == (4096, 4096)
    pcm.close()


def _played(audio_board) -> np.ndarray:
    """What the card got, silence (all-zero frames) left out."""
    tap = audio_board.soc.hw["codec0"].tapped()
    return tap[tap.any(axis=1)]


def test_suspend_pauses_the_dma_and_resume_plays_on_from_where_it_was(audio_board):
    """``snd_pcm_suspend_all`` then ``snd_pcm_resume``: the DMA is paused (INFO_PAUSE),
    not stopped, so after the resume the ring plays on from where the DMA stood. What the
    I2S FIFO held is lost, as at a pause: the DAI's SUSPEND turns the controller off, and
    its transmitter starts again with an empty FIFO."""
    skip_without_pause(audio_board)
    pcm = _open()
    rt = pcm.runtime
    data = _frames(12_000, 11)
    data[data == 0] = 1  # no all-zero frame: silence is told apart from data
    pcm.prepare()
    pcm.writei(data[:4096])
    audio_board.soc.clock.run_for(30_000_000)
    heard, in_fifo = len(_played(audio_board)), audio_board.soc.hw["i2s0"].mmio_read(TXFLR)
    assert in_fifo > 0
    pcm.card.suspend_all()
    assert pcm.state == S.SUSPENDED and pcm.status().suspended_state == S.RUNNING
    assert not rt.stop_operating  # suspend_all synchronized the DMA
    audio_board.soc.clock.run_for(100_000_000)
    assert len(_played(audio_board)) == heard  # nothing moves while suspended
    with pytest.raises(PcmError) as e:
        pcm.writei(data[4096:])
    assert e.value.errno == errno.ESTRPIPE
    pcm.recover(e.value)  # snd_pcm_recover: resume
    assert pcm.state == S.RUNNING
    assert pcm.writei(data[4096:]) == len(data) - 4096
    pcm.drain()
    lost = slice(heard, heard + in_fifo)
    assert np.array_equal(_played(audio_board), np.delete(data, lost, axis=0).astype(np.int32))
    pcm.close()


def test_suspend_and_resume_keep_the_state_and_refuse_what_they_cannot_do(audio_board):
    skip_without_pause(audio_board)
    pcm = _open()
    ss = pcm.substream
    assert _errno(ss.suspend) == errno.EBUSY  # SETUP: nothing to suspend
    assert _errno(pcm.resume) == errno.EBADFD  # not suspended
    pcm.prepare()
    ss.suspend()
    assert _errno(ss.suspend) == errno.EBUSY  # already suspended
    pcm.resume()
    assert pcm.state == S.PREPARED  # no DMA ran: no trigger, the state comes back
    pcm.writei(_frames(4096))
    audio_board.soc.clock.run_for(10_000_000)
    pcm.pause(True)
    ss.suspend()
    pcm.resume()
    assert pcm.state == S.PAUSED
    heard = len(_played(audio_board))
    audio_board.soc.clock.run_for(50_000_000)
    assert len(_played(audio_board)) == heard  # still paused: resume did not restart the DMA
    pcm.pause(False)
    audio_board.soc.clock.run_for(10_000_000)
    assert len(_played(audio_board)) > heard
    pcm.close()


def test_a_card_that_cannot_resume_is_prepared_by_recover(audio_board):
    pcm = _playing(audio_board)
    pcm.card.suspend_all()
    pcm.runtime.info &= ~INFO_RESUME
    assert _errno(pcm.resume) == errno.ENOSYS
    err = PcmError(errno.ESTRPIPE, "suspended")
    pcm.recover(err)  # resume fails: snd_pcm_recover prepares instead
    assert pcm.state == S.PREPARED and pcm.runtime.hw_ptr == pcm.runtime.appl_ptr
    pcm.close()


def test_a_draining_playback_suspended_and_resumed_finishes_its_drain(audio_board):
    skip_without_pause(audio_board)
    pcm = _open(nonblock=True)
    pcm.prepare()
    pcm.writei(_frames(2048))
    assert _errno(pcm.drain) == errno.EAGAIN and pcm.state == S.DRAINING
    audio_board.soc.clock.run_for(10_000_000)
    pcm.card.suspend_all()
    assert pcm.runtime.suspended_state == S.DRAINING
    heard = len(_played(audio_board))
    audio_board.soc.clock.run_for(100_000_000)  # longer than the drain: it waits, suspended
    assert pcm.state == S.SUSPENDED and len(_played(audio_board)) == heard  # nothing moved
    pcm.resume()
    assert pcm.state == S.DRAINING  # the DMA resumed (snd_pcm_do_resume: DRAINING too)
    audio_board.soc.clock.run_until_true(lambda: pcm.state != S.DRAINING, 10**9)
    assert pcm.state == S.SETUP and pcm.runtime.hw_ptr >= 2048
    pcm.close()


@pytest.mark.parametrize("refused", [
    {"RATE": 4000},  # the refinement refuses it
    {"CHANNELS": 3},  # the refinement passes it, the DAI's hw_params refuses it
])
def test_a_refused_hw_params_leaves_the_stream_open(audio_board, refused):
    """snd_pcm_hw_params' error path: state OPEN, the driver's hw_free called, so what
    needs hw_params (prepare, sw_params, transfers) is EBADFD until it succeeds again.
    Found by the kernel oracle: the model kept SETUP."""
    pcm = _open()
    p = hp.HwParams()
    p.set_mask("FORMAT", {pcm.runtime.format})
    for name, v in {"CHANNELS": 2, "RATE": 48000, "PERIOD_SIZE": 1024,
                    "BUFFER_SIZE": 4096, **refused}.items():
        p.set_minmax(name, v, v)
    with pytest.raises(PcmError) as e:
        pcm.substream.hw_params(p)
    assert e.value.errno == errno.EINVAL and pcm.state == S.OPEN
    assert pcm.substream.hw_params_current is None
    # the codec DAI took the setup before the CPU DAI refused it: hw_free undid it
    assert PcmStream.PLAYBACK not in pcm.card.links[0].codec.ops.configured
    assert _errno(pcm.prepare) == errno.EBADFD
    assert _errno(pcm.substream.sw_params, SwParams()) == errno.EBADFD
    pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
    pcm.prepare()
    assert pcm.state == S.PREPARED
    pcm.close()


def test_a_transfer_of_no_frames_returns_0_in_any_state_but_open(audio_board):
    """__snd_pcm_lib_xfer returns 0 for size 0 before it checks the state; only
    pcm_sanity_check's OPEN comes first. Found by the kernel oracle (EBADFD in SETUP)."""
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    assert _errno(pcm.substream.writei, _frames(0)) == errno.EBADFD  # OPEN
    pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
    assert pcm.substream.writei(_frames(0)) == 0  # SETUP
    assert _errno(pcm.substream.writei, _frames(8)) == errno.EBADFD
    pcm.close()
    cap = _open(PcmStream.CAPTURE)
    assert cap.substream.readi(0).shape == (0, 2)  # SETUP
    assert _errno(cap.substream.readi, 8) == errno.EBADFD
    cap.close()
