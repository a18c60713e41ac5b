"""The CPU DAI driver for the DesignWare I2S controller.

Counterpart: sound/soc/dwc/dwc-i2s.c (probe, hw_params, trigger, dma_data).
Departs from mainline: TXCHN/RXCHN, the FIFO level in ``delay`` and dma_data's
fifo_size (docs/departures.md).
"""

from __future__ import annotations

import errno
from typing import Any

from pcm import params as hp
from pcm.dmaengine_pcm import devm_snd_dmaengine_pcm_register
from pcm.errors import PcmError
from pcm.formats import FORMATS
from pcm.pcm_native import Substream, Trigger
from pcm.runtime import PcmStream
from pcm.soc_pcm import (
    Dai,
    DmaData,
    PcmStreamCaps,
    snd_soc_register_component,
    snd_soc_unregister_component,
)
from soc import dw_i2s as reg
from soc.platform import PlatformDevice, PlatformDriver

RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 64000, 88200, 96000, 176400, 192000]
FORMAT_WLEN = {"S16_LE": 2, "S24_LE": 4, "S32_LE": 5}  # TCR/RCR xfer_resolution


class DwI2sDai:
    """``struct dw_i2s_dev``: the DAI's ops, programming the controller."""

    def __init__(self, pdev: PlatformDevice) -> None:
        self.pdev = pdev
        self.pcm: Any = None  # the generic dmaengine PCM registered for it
        self.base = pdev.node.reg[0] if pdev.node.reg else 0
        self.bus = pdev.soc.bus
        self.active = 0
        param = self.readl(reg.COMP_PARAM_1)
        self.fifo_depth = 2 << ((param >> 2) & 3) if param else 16
        self.fifo_th = self.fifo_depth // 2
        # Departs from mainline: the FIFOs' bytes (four pairs of 32-bit words deep
        # fifo_depth), not fifo_depth * fifo_width >> 8
        self.fifo_bytes = self.fifo_depth * 8 * 4

    def readl(self, off: int) -> int:
        return self.bus.read32(self.base + off)

    def writel(self, off: int, value: int) -> None:
        self.bus.write32(self.base + off, value)

    # -- snd_soc_dai_ops --

    def hw_params(self, ss: Substream, params: hp.HwParams, dai: Dai) -> None:
        fmt = params.format.name
        if fmt not in FORMAT_WLEN:
            raise PcmError(errno.EINVAL, f"{dai.name}: format {fmt} not supported")
        channels = params.get("CHANNELS")
        if channels not in (2, 4, 6, 8):
            raise PcmError(errno.EINVAL, f"{dai.name}: {channels} channels not supported "
                           "(the I2S carries 2, 4, 6 or 8)")
        if ss.stream == PcmStream.PLAYBACK:
            self.writel(reg.TCR, FORMAT_WLEN[fmt])
            self.writel(reg.TFCR, self.fifo_th - 1)
            self.writel(reg.TXCHN, channels)
            self.writel(reg.TER, 1)
        else:
            self.writel(reg.RCR, FORMAT_WLEN[fmt])
            self.writel(reg.RFCR, self.fifo_th - 1)
            self.writel(reg.RXCHN, channels)
            self.writel(reg.RER, 1)

    def trigger(self, ss: Substream, cmd: Trigger, dai: Dai) -> None:
        playback = ss.stream == PcmStream.PLAYBACK
        if cmd in (Trigger.START, Trigger.RESUME, Trigger.PAUSE_RELEASE):
            self.active += 1
            self.writel(reg.IER, 1)
            self.writel(reg.IMR, reg.ISR_TXFE | reg.ISR_TXFO | reg.ISR_RXDA | reg.ISR_RXFO)
            self.writel(reg.ITER if playback else reg.IRER, 1)
            self.writel(reg.CER, 1)
        else:
            self.active -= 1
            self.writel(reg.ITER if playback else reg.IRER, 0)
            if self.active == 0:
                self.writel(reg.CER, 0)
                self.writel(reg.IER, 0)

    def delay(self, ss: Substream, dai: Dai) -> int:
        """Frames in the FIFO (queued for the wire, or sampled but not yet fetched)."""
        return self.readl(reg.TXFLR if ss.stream == PcmStream.PLAYBACK else reg.RXFLR)


def probe(pdev: PlatformDevice) -> None:
    drv = DwI2sDai(pdev)
    formats = {FORMATS[f].number for f in FORMAT_WLEN}

    def caps(name: str) -> PcmStreamCaps:
        return PcmStreamCaps(name, formats, RATES, 8000, 192000, 2, 8)

    dai = Dai(pdev.name, pdev, caps("Playback"), caps("Capture"), drv, {
        PcmStream.PLAYBACK: DmaData(drv.base + reg.TXDMA, 0, 16, "tx", drv.fifo_bytes),
        PcmStream.CAPTURE: DmaData(drv.base + reg.RXDMA, 0, 16, "rx", drv.fifo_bytes),
    })
    pdev.drvdata = drv
    snd_soc_register_component(pdev, dai)
    drv.pcm = devm_snd_dmaengine_pcm_register(pdev)


def remove(pdev: PlatformDevice) -> None:
    drv: Any = pdev.drvdata
    drv.pcm.release()
    snd_soc_unregister_component(pdev)


DRIVER = PlatformDriver(("snps,designware-i2s",), probe, remove)
