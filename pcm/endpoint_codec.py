"""The codec DAI driver for the far end of the I2S bus.

Counterpart: a codec driver under sound/soc/codecs (startup, hw_params, prepare, hw_free, delay).
"""

from __future__ import annotations

import errno

from pcm import params as hp
from pcm.errors import PcmError
from pcm.formats import FORMATS
from pcm.pcm_native import Substream
from pcm.runtime import PcmStream
from pcm.soc_pcm import Dai, PcmStreamCaps, cards, snd_soc_register_component
from pcm.soc_pcm import snd_soc_unregister_component as unregister
from soc.platform import PlatformDevice, PlatformDriver

FORMATS_TAKEN = ("S16_LE", "S24_LE", "S32_LE")


class EndpointCodec:
    def __init__(self, pdev: PlatformDevice) -> None:
        self.pdev = pdev
        self.endpoint = pdev.soc.hw[pdev.name]
        self.configured: dict[PcmStream, tuple[int, int, int]] = {}

    def startup(self, ss: Substream, dai: Dai) -> None:
        if not self.endpoint.is_virtual:
            ss.wait_time_ms = 10_000

    def hw_params(self, ss: Substream, params: hp.HwParams, dai: Dai) -> None:
        cfg = (params.get("RATE"), params.get("CHANNELS"), params.format.width)
        if self.endpoint.running and self.endpoint.config != cfg:
            raise PcmError(errno.EBUSY, f"{dai.name}: running at {self.endpoint.config}, "
                           f"cannot take {cfg}")
        self.configured[ss.stream] = cfg

    def prepare(self, ss: Substream, dai: Dai) -> None:
        ep = self.endpoint
        if ep.running:
            playback, capture = ep.directions
            if not (playback if ss.stream == PcmStream.PLAYBACK else capture):
                raise PcmError(errno.EBUSY, f"{dai.name}: the far end runs without "
                               f"{ss.stream.name.lower()}; set up both before preparing")
            return
        rate, channels, bits = self.configured[ss.stream]
        try:
            ep.start(rate, channels, bits, PcmStream.PLAYBACK in self.configured,
                     PcmStream.CAPTURE in self.configured)
        except Exception as e:
            raise PcmError(errno.EIO, f"{dai.name}: {e}") from e

    def hw_free(self, ss: Substream, dai: Dai) -> None:
        self.configured.pop(ss.stream, None)
        if not self.configured:
            self.endpoint.stop()

    def delay(self, ss: Substream, dai: Dai) -> int:
        return self.endpoint.latency_frames()


def probe(pdev: PlatformDevice) -> None:
    codec = EndpointCodec(pdev)
    ep = codec.endpoint
    formats = {FORMATS[f].number for f in FORMATS_TAKEN}
    caps: dict[PcmStream, PcmStreamCaps | None] = {}
    for stream, name in ((PcmStream.PLAYBACK, "Playback"), (PcmStream.CAPTURE, "Capture")):
        playback = stream == PcmStream.PLAYBACK
        try:
            rates, ch = ep.rates(playback), ep.channels_max(playback)
        except Exception:
            rates, ch = [], 0
        caps[stream] = PcmStreamCaps(name, formats, rates, 8000, 192000, 1, ch) if (
            rates and ch) else None
    dai = Dai(pdev.name, pdev, caps[PcmStream.PLAYBACK], caps[PcmStream.CAPTURE], codec)
    pdev.drvdata = codec
    ep.on_unplug = lambda: unplugged(pdev)
    snd_soc_register_component(pdev, dai)


def unplugged(pdev: PlatformDevice) -> None:
    """The far end went away: each card with a link to this codec is disconnected, as
    ASoC disconnects the cards of a component that is removed (``snd_soc_unbind_card`` →
    ``snd_card_disconnect_sync``). Reduced to the disconnect: the component stays
    registered and the card bound until the board is taken down (see
    :meth:`SocCard.disconnect <pcm.soc_pcm.SocCard.disconnect>`)."""
    for card in cards():
        if any(link.codec.dev is pdev for link in card.links):
            card.disconnect()


def remove(pdev: PlatformDevice) -> None:
    pdev.drvdata.endpoint.on_unplug = None
    pdev.drvdata.endpoint.stop()
    unregister(pdev)


DRIVER = PlatformDriver(("dma-audio,card-endpoint",), probe, remove)
