"""The generic dmaengine PCM (pcm_dmaengine.c, soc-generic-dmaengine-pcm.c) on the
audio board, on the virtual clock."""

from __future__ import annotations

import errno

import pytest

from dma.dmaengine import ResidueGranularity
from pcm import alsa, dmaengine_pcm
from pcm.errors import PcmError
from pcm.formats import BY_NUMBER
from pcm.pcm_native import INFO_BATCH, PcmHardware, Trigger
from pcm.runtime import PcmStream
from pcm.soc_pcm import cards
from tests.conftest import dmac_of


def _platform():
    link = cards()[0].links[0]
    return link.platform, link.cpu


def test_formats_come_from_the_channel_caps_alone(audio_board):
    """snd_dmaengine_pcm_refine_runtime_hwparams: every format whose physical width is
    one of the channel's addr_widths (1, 2 and 4 bytes on the PL08x; 8 too on the PL330),
    whatever width the DAI's dma_data asks; the DAI narrows them later, in soc_pcm_open.
    BATCH comes from amba-pl08x's SEGMENT granularity; pl330's BURST gives none."""
    phys = {8, 16, 32} if dmac_of(audio_board) == "pl080" else {8, 16, 32, 64}
    platform, cpu = _platform()
    ss = cards()[0].pcm(0, PcmStream.PLAYBACK)
    ss.hw = PcmHardware()
    dma_data = cpu.dma_data[PcmStream.PLAYBACK]
    width, dma_data.addr_width = dma_data.addr_width, 2  # a DAI that names its width
    platform.open(ss)
    try:
        widths = {f.phys for n, f in BY_NUMBER.items() if n in ss.hw.formats}
        assert widths == phys & {f.phys for f in BY_NUMBER.values()}
        assert ss.hw.formats == {n for n, f in BY_NUMBER.items() if f.phys in phys}
        assert bool(ss.hw.info & INFO_BATCH) == (dmac_of(audio_board) == "pl080")
    finally:
        dma_data.addr_width = width
        platform.close(ss)


def test_no_residue_is_one_flag_for_the_whole_pcm(audio_board):
    """dmaengine_pcm_request_chan_of: a PCM one of whose channels reports residue per
    descriptor only gets SND_DMAENGINE_PCM_FLAG_NO_RESIDUE, for both its streams."""
    platform, _ = _platform()
    asked = []

    def caps(chan, c):  # the provider's device_caps: residue per descriptor on rx alone
        asked.append(chan)
        if len(asked) == 2:  # the rx channel, requested second
            c.residue_granularity = ResidueGranularity.DESCRIPTOR

    device = platform.chan[PcmStream.CAPTURE].device
    platform.release()
    device.device_caps = caps
    fresh = dmaengine_pcm.GenericDmaenginePcm(platform.dev)
    try:
        assert set(fresh.chan) == {PcmStream.PLAYBACK, PcmStream.CAPTURE}
        assert fresh.no_residue is True
    finally:
        fresh.release()
        device.device_caps = None
        platform.__init__(platform.dev)  # the board's own platform takes its channels back
    assert platform.no_residue is False


def test_an_unknown_trigger_is_einval(audio_board):
    """snd_dmaengine_pcm_trigger answers -EINVAL to a command it does not handle."""
    from pcm import alsa

    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    try:
        pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
        platform, _ = _platform()
        with pytest.raises(PcmError) as e:
            platform.trigger(pcm.substream, Trigger.DRAIN)
        assert e.value.errno == errno.EINVAL
    finally:
        pcm.close()


@pytest.mark.parametrize(("fmt", "channels", "frames"),
                         [("S16_LE", 2, 128), ("S32_LE", 2, 64), ("S16_LE", 8, 32),
                          ("S32_LE", 8, 16)])
def test_hw_params_fifo_size_is_the_dais_fifo_bytes_over_the_frame(audio_board, fmt,
                                                                   channels, frames):
    """dmaengine_pcm_set_runtime_hwparams copies dma_data's fifo_size (bytes: 16 entries
    of four 32-bit pairs); snd_pcm_lib_ioctl_fifo_size divides it by the frame once
    refinement has made format and channels single, and leaves it 0 before."""
    pcm = alsa.open_pcm("hw:0,0", PcmStream.PLAYBACK)
    try:
        assert pcm.hw_params_any().fifo_size == 0
        assert pcm.set_params(fmt, channels, 48000, 1024, None, 4).fifo_size == frames
    finally:
        pcm.close()
