"""The machine driver: one DAI link from the I2S controller to the card endpoint.

Counterpart: sound/soc/generic/simple-card.c. The device-tree node names the CPU DAI and
the codec (``cpu``, ``codec`` properties); the platform is the generic dmaengine PCM the
CPU DAI's device registered. The link has ``symmetric_rate`` set: playback and capture
share the bit clock.
"""

from __future__ import annotations

from pcm.soc_pcm import (
    DaiLink,
    SocCard,
    lookup_component,
    lookup_dai,
    snd_soc_register_card,
    snd_soc_unregister_card,
)
from soc.platform import PlatformDevice, PlatformDriver


def probe(pdev: PlatformDevice) -> None:
    props = pdev.node.props
    cpu, codec = props["cpu"], props["codec"]
    link = DaiLink(f"{cpu}-{codec}", "HiFi", lookup_dai(cpu), lookup_dai(codec),
                   lookup_component(cpu))
    card = SocCard(props.get("label", "dma-audio"), props.get("long-name", "dma-audio card"),
                   pdev.soc.clock, [link])
    card.pdev = pdev
    snd_soc_register_card(card)
    pdev.drvdata = card


def remove(pdev: PlatformDevice) -> None:
    snd_soc_unregister_card(pdev.drvdata)


DRIVER = PlatformDriver(("simple-audio-card",), probe, remove)
