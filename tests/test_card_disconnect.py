"""A lost far end on the virtual clock: the card is disconnected as ``snd_card_disconnect``
does it. A blocked write or read gets EBADFD, a blocked drain ENODEV; the stream is
DISCONNECTED with its DMA stopped; every later call but close answers ENODEV; the card
is gone from the list; close frees the DMA channel."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from pcm import alsa
from pcm.errors import PcmError
from pcm.runtime import PcmState, PcmStream
from soc.clock import ns_at_frame
from soc.pl080 import ENBLD_CHNS
from soc.sound_device import DeviceError
from tests.conftest import skip_without_pause, spied_platform

RATE, PERIOD = 48000, 1024


def _open(stream: PcmStream = PcmStream.PLAYBACK) -> alsa.Pcm:
    pcm = alsa.open_pcm("default", stream)
    pcm.set_params("S16_LE", 2, RATE, period_size=PERIOD, periods=4)
    pcm.prepare()
    return pcm


def _frames(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(-32768, 32768, (n, 2)).astype("<i2")


def _lose_after(audio_board, frames: int, seen: dict) -> None:
    """The far end goes away ``frames`` frames of card time from now; what the card had
    been sent by then is noted in ``seen``."""
    ep, clock = audio_board.soc.hw["codec0"], audio_board.soc.clock

    def unplug() -> None:
        seen["tapped"] = len(ep.tapped())
        seen["at_ns"] = clock.now_ns
        ep.lose(DeviceError("unplugged"))

    clock.call_later(ns_at_frame(frames, RATE), unplug)


def _errno(fn, *args) -> int:
    with pytest.raises(PcmError) as e:
        fn(*args)
    return e.value.errno


def _enabled_dma_channels(audio_board) -> int:
    """The PL080's ENBLD_CHNS register: a bit per channel that is enabled."""
    return audio_board.soc.hw["dma0"].mmio_read(ENBLD_CHNS)


def test_a_blocked_writer_gets_ebadfd_then_every_call_but_close_enodev(audio_board):
    pcm = _open()
    pcm.writei(_frames(4 * PERIOD))  # the ring full: started, and the next write blocks
    assert pcm.state == PcmState.RUNNING
    seen: dict = {}
    _lose_after(audio_board, PERIOD + PERIOD // 2, seen)
    assert pcm.writei(_frames(PERIOD)) == PERIOD  # the first period's interrupt made room
    assert _errno(pcm.writei, _frames(PERIOD)) == errno.EBADFD  # woken by the disconnect
    assert audio_board.soc.clock.now_ns == seen["at_ns"]
    assert pcm.state == PcmState.DISCONNECTED
    card = pcm.card
    assert card.shutdown and alsa.cards() == []
    assert _enabled_dma_channels(audio_board) == 0  # the trigger's STOP terminated the DMA
    # A second of card time later the card has been sent nothing but the idle line.
    audio_board.soc.clock.run_for(1_000_000_000)
    after = audio_board.soc.hw["codec0"].tapped()[seen["tapped"]:]
    assert len(after) == RATE and not after.any()
    for call, args in ((pcm.writei, (_frames(8),)), (pcm.avail, ()), (pcm.delay, ()),
                       (pcm.status, ()), (pcm.drain, ()), (pcm.drop, ()), (pcm.prepare, ()),
                       (pcm.pause, (True,)), (pcm.hw_params_any, ())):
        assert _errno(call, *args) == errno.ENODEV, call.__name__
    assert _errno(alsa.open_pcm, "default", PcmStream.PLAYBACK) == errno.ENOENT
    pcm.close()


def test_a_blocked_drain_gets_enodev(audio_board):
    pcm = _open()
    pcm.writei(_frames(3 * PERIOD))
    seen: dict = {}
    _lose_after(audio_board, PERIOD // 2, seen)
    assert _errno(pcm.drain) == errno.ENODEV  # card->shutdown, once the drain woke
    assert audio_board.soc.clock.now_ns == seen["at_ns"]
    assert pcm.state == PcmState.DISCONNECTED
    pcm.close()
    assert _enabled_dma_channels(audio_board) == 0


def test_a_blocked_reader_gets_ebadfd(audio_board):
    pcm = _open(PcmStream.CAPTURE)
    assert len(pcm.readi(PERIOD)) == PERIOD  # the read started it
    seen: dict = {}
    _lose_after(audio_board, PERIOD // 2, seen)
    assert _errno(pcm.readi, PERIOD) == errno.EBADFD
    assert audio_board.soc.clock.now_ns == seen["at_ns"]
    assert pcm.state == PcmState.DISCONNECTED
    assert _errno(pcm.readi, PERIOD) == errno.ENODEV
    pcm.close()
    assert _enabled_dma_channels(audio_board) == 0


def test_a_stream_not_running_is_set_disconnected_without_a_trigger(audio_board):
    skip_without_pause(audio_board)
    pcm = _open()
    pcm.writei(_frames(2 * PERIOD))
    pcm.pause(True)
    with spied_platform(pcm.substream) as spy:
        audio_board.soc.hw["codec0"].lose(DeviceError("unplugged"))
    assert pcm.state == PcmState.DISCONNECTED
    assert spy.triggers == []  # snd_pcm_running is false for PAUSED: no STOP, the DMA stays paused
    assert _enabled_dma_channels(audio_board) != 0
    assert _errno(pcm.pause, False) == errno.ENODEV
    pcm.close()
    # As in the kernel: release's drop refuses DISCONNECTED and the dmaengine PCM's close
    # only synchronizes, so the paused channel stays enabled (halted) until the channel
    # is released, when the I2S driver goes (dma_release_channel terminates it).
    assert _enabled_dma_channels(audio_board) != 0
    audio_board.remove()
    assert _enabled_dma_channels(audio_board) == 0


def test_an_unopened_device_is_left_alone_and_the_loss_is_told_once(audio_board):
    ep = audio_board.soc.hw["codec0"]
    card = alsa.cards()[0]
    first = DeviceError("unplugged")
    ep.lose(first)
    ep.lose(DeviceError("again"))
    assert ep.lost is first and card.shutdown
    assert all(ss.runtime is None for rtd in card.rtds for ss in rtd.substreams.values())


@pytest.mark.parametrize("fmt", [None, "U8"])
def test_a_capture_cut_by_a_lost_device_keeps_every_frame_it_read(tmp_path, monkeypatch,
                                                                   capsys, fmt):
    """``dma-audio capture`` on the virtual clock, the far end lost 10.5 periods in: the
    reader, blocked in the 11th period, gets EBADFD; the command exits 1 with one line
    naming the loss, and the WAV holds exactly the 10 periods read, the source's first
    (through the plug too: ``-f U8`` keeps each S16 sample's top byte, offset by 128)."""
    from scipy.io import wavfile

    import demos.session
    from demos.cli import main

    src = tmp_path / "src.wav"
    data = _frames(RATE)
    wavfile.write(src, RATE, data)
    real = demos.session.open_session

    def lost_midway(*args, **kw):  # the session, with the loss at a card instant
        sess = real(*args, **kw)
        clock = sess.board.soc.clock
        clock.call_later(ns_at_frame(10 * PERIOD + PERIOD // 2, RATE),
                         lambda: sess.endpoint.lose(DeviceError("unplugged")))
        return sess

    monkeypatch.setattr(demos.session, "open_session", lost_midway)
    out = tmp_path / "cap.wav"
    assert main(["capture", str(out), "-d", "1", "--clock", "virtual", "--source", str(src),
                 "--period-size", str(PERIOD), "--periods", "4", "--no-progress",
                 *(["-f", fmt] if fmt else [])]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == f"wrote {10 * PERIOD} frames to {out} (sound device lost: unplugged)"
    assert err[-1] == ("dma-audio: sound device lost: unplugged; the card is disconnected "
                       "(EBADFD: pcmC0D0c: state DISCONNECTED)")
    rate, got = wavfile.read(out)
    expect = data[: 10 * PERIOD]
    if fmt == "U8":
        expect = ((expect >> 8) + 128).astype(np.uint8)
    assert rate == RATE and got.dtype == expect.dtype and np.array_equal(got, expect)
