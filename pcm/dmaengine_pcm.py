"""The generic dmaengine PCM: a cyclic DMA channel per direction drives the ring.

Counterpart: sound/core/pcm_dmaengine.c and sound/soc/soc-generic-dmaengine-pcm.c.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, Final

import dma
from dma.consumer import tx_status
from dma.core import DmaChan
from dma.dmaengine import DmaStatus, ResidueGranularity, SlaveBuswidth, SlaveConfig
from dma.dmaengine import TransferDirection as Dir
from dma.mapping import dma_alloc_coherent, dma_free_coherent, dma_get_max_seg_size
from pcm import params as hp
from pcm.errors import PcmError
from pcm.formats import BY_NUMBER
from pcm.pcm_native import INFO_BATCH, INFO_PAUSE, INFO_RESUME, Substream, Trigger
from pcm.runtime import PcmStream
from pcm.soc_pcm import Dai, DmaData, lookup_dai, snd_soc_register_component

# DmaStatus's members as module constants: compiled code loads them without a lookup
_IN_PROGRESS: Final = DmaStatus.IN_PROGRESS
_PAUSED: Final = DmaStatus.PAUSED

DMA_SLAVE_BUSWIDTH_8_BYTES = 8
BUSWIDTH = {8: 1, 16: 2, 24: 3, 32: 4, 64: 8}
# The ring's upper bound: the generic dmaengine PCM's prealloc_buffer_size. The kernel
# leaves buffer_bytes_max at SIZE_MAX and grows the managed buffer on demand; the model
# caps it here so that "maximal buffer size" in hw_params stays a sane ring.
PREALLOC_BUFFER_BYTES = 512 * 1024


def snd_hwparams_to_dma_slave_config(ss: Substream, params: hp.HwParams) -> SlaveConfig:
    """Direction and bus width from the sample's physical width."""
    bits = params.format.phys
    if bits not in BUSWIDTH:
        raise PcmError(errno.EINVAL, f"no DMA bus width for {bits}-bit samples")
    width = SlaveBuswidth(BUSWIDTH[bits])
    if ss.stream == PcmStream.PLAYBACK:
        return SlaveConfig(direction=Dir.MEM_TO_DEV, dst_addr_width=width)
    return SlaveConfig(direction=Dir.DEV_TO_MEM, src_addr_width=width)


def snd_dmaengine_pcm_set_config_from_dai_data(ss: Substream, dma_data: DmaData,
                                               cfg: SlaveConfig) -> None:
    """The FIFO address and burst from the CPU DAI; its address width if it sets one."""
    if ss.stream == PcmStream.PLAYBACK:
        cfg.dst_addr, cfg.dst_maxburst = dma_data.addr, dma_data.maxburst
        if dma_data.addr_width:
            cfg.dst_addr_width = SlaveBuswidth(dma_data.addr_width)
    else:
        cfg.src_addr, cfg.src_maxburst = dma_data.addr, dma_data.maxburst
        if dma_data.addr_width:
            cfg.src_addr_width = SlaveBuswidth(dma_data.addr_width)


@dataclass
class DmaenginePcmRuntimeData:
    """``struct dmaengine_pcm_runtime_data``."""

    dma_chan: DmaChan
    cookie: int = 0
    pos: int = 0  # bytes, moved a period at a time by the callback


class GenericDmaenginePcm:
    """``struct dmaengine_pcm``: the platform component of a DAI link."""

    def __init__(self, dev: Any) -> None:
        self.name = f"{dev.name}-pcm"
        self.dev = dev
        self.chan: dict[PcmStream, Any] = {}
        # SND_DMAENGINE_PCM_FLAG_NO_RESIDUE: one flag for the PCM, set where any of its
        # channels reports residue per descriptor only
        self.no_residue = False
        for stream, name in ((PcmStream.PLAYBACK, "tx"), (PcmStream.CAPTURE, "rx")):
            try:
                chan = dma.request_chan(dev, name)
            except OSError:
                continue  # no such direction on this device
            self.chan[stream] = chan
            caps = dma.get_slave_caps(chan)
            if caps.residue_granularity == ResidueGranularity.DESCRIPTOR:
                self.no_residue = True

    def release(self) -> None:
        for chan in self.chan.values():
            dma.release_channel(chan)
        self.chan.clear()

    def _dai(self) -> Dai:
        return lookup_dai(self.dev.name)

    def _prtd(self, ss: Substream) -> DmaenginePcmRuntimeData:
        return ss.private_data

    # -- snd_soc_component_driver hooks --

    def open(self, ss: Substream) -> None:
        """``dmaengine_pcm_open``: PCM hardware from the DMA's caps; periods integer."""
        chan = self.chan.get(ss.stream)
        if chan is None:
            raise PcmError(errno.ENXIO, f"{self.name}: no DMA channel for {ss.stream.name}")
        dma_data = self._dai().dma_data[ss.stream]
        hw = ss.hw
        hw.periods_min, hw.periods_max = 2, hp.UINT_MAX
        hw.period_bytes_min = dma_data.maxburst * DMA_SLAVE_BUSWIDTH_8_BYTES or 256
        hw.period_bytes_max = dma_get_max_seg_size(chan.device)
        hw.buffer_bytes_max = PREALLOC_BUFFER_BYTES
        hw.fifo_size = dma_data.fifo_size
        caps = dma.get_slave_caps(chan)
        if caps.cmd_pause and caps.cmd_resume:
            hw.info |= INFO_PAUSE | INFO_RESUME
        if caps.residue_granularity <= ResidueGranularity.SEGMENT:
            hw.info |= INFO_BATCH
        # snd_dmaengine_pcm_refine_runtime_hwparams: every format whose physical width the
        # channel's caps have (the DAI's addr_width narrows nothing here)
        widths = caps.dst_addr_widths if ss.stream == PcmStream.PLAYBACK else caps.src_addr_widths
        hw.formats = {n for n, f in BY_NUMBER.items()
                      if widths & (1 << BUSWIDTH.get(f.phys, 0))}
        ss.rules.append(("PERIODS", lambda p: hp.Interval(0, hp.UINT_MAX, integer=True)))
        ss.private_data = DmaenginePcmRuntimeData(chan)

    def close(self, ss: Substream) -> None:
        """``snd_dmaengine_pcm_close``: wait for the callbacks, forget the runtime data."""
        dma.synchronize(self._prtd(ss).dma_chan)
        ss.private_data = None

    def hw_params(self, ss: Substream, params: hp.HwParams) -> None:
        """``dmaengine_pcm_hw_params``: slave config; the ring (managed buffer)."""
        prtd = self._prtd(ss)
        cfg = snd_hwparams_to_dma_slave_config(ss, params)
        snd_dmaengine_pcm_set_config_from_dai_data(ss, self._dai().dma_data[ss.stream], cfg)
        dma.slave_config(prtd.dma_chan, cfg)
        size = params.get("BUFFER_BYTES")
        ss.dma_area, ss.dma_addr = dma_alloc_coherent(prtd.dma_chan.device.dev, size)
        ss.dma_bytes = size
        ss.slave_config = cfg

    def hw_free(self, ss: Substream) -> None:
        if ss.dma_area is not None:
            dma_free_coherent(self._prtd(ss).dma_chan.device.dev, ss.dma_bytes, ss.dma_addr)
            ss.dma_area, ss.dma_addr, ss.dma_bytes = None, 0, 0

    def trigger(self, ss: Substream, cmd: Trigger) -> None:
        """``snd_dmaengine_pcm_trigger``."""
        chan = self._prtd(ss).dma_chan
        if cmd == Trigger.START:
            self._prepare_and_submit(ss)
            dma.issue_pending(chan)
        elif cmd in (Trigger.RESUME, Trigger.PAUSE_RELEASE):
            dma.resume(chan)
        elif cmd == Trigger.SUSPEND:
            if ss.runtime is not None and ss.runtime.info & INFO_PAUSE:
                dma.pause(chan)
            else:
                dma.terminate_async(chan)
        elif cmd == Trigger.PAUSE_PUSH:
            dma.pause(chan)
        elif cmd == Trigger.STOP:
            dma.terminate_async(chan)
        else:
            raise PcmError(errno.EINVAL, f"{self.name}: unknown trigger {cmd!r}")

    def _prepare_and_submit(self, ss: Substream) -> None:
        prtd = self._prtd(ss)
        rt = ss.runtime
        assert rt is not None
        direction = Dir.MEM_TO_DEV if ss.stream == PcmStream.PLAYBACK else Dir.DEV_TO_MEM
        fb = rt.frame_bits // 8
        flags = dma.PrepFlags.CTRL_ACK | dma.PrepFlags.PREP_INTERRUPT
        prtd.pos = 0
        desc = dma.prep_dma_cyclic(prtd.dma_chan, ss.dma_addr, rt.buffer_size * fb,
                                   rt.period_size * fb, direction, flags)
        if desc is None:
            raise PcmError(errno.ENOMEM, f"{self.name}: prep_dma_cyclic failed")
        desc.callback = self._dma_complete
        desc.callback_param = ss
        prtd.cookie = dma.submit(desc)

    @staticmethod
    def _dma_complete(ss: Substream) -> None:
        """``dmaengine_pcm_dma_complete``: one period done; tell the PCM core."""
        with ss.lock:
            prtd = ss.private_data
            rt = ss.runtime
            if prtd is None or rt is None:
                return
            fb = rt.frame_bits // 8
            new_pos = prtd.pos + rt.period_size * fb
            prtd.pos = 0 if new_pos >= rt.buffer_size * fb else new_pos
        ss.period_elapsed()

    def pointer(self, ss: Substream) -> int:
        """``snd_dmaengine_pcm_pointer``: buffer_bytes - residue while in progress or
        paused (else 0); runtime.delay = in-flight bytes. Without residue: ``pos``."""
        prtd = self._prtd(ss)
        rt = ss.runtime
        assert rt is not None
        fb = rt.frame_bits // 8
        if self.no_residue:
            return prtd.pos // fb
        status, state = tx_status(prtd.dma_chan, prtd.cookie)
        pos = 0
        if status in (_IN_PROGRESS, _PAUSED):
            buf = rt.buffer_size * fb
            if 0 < state.residue <= buf:
                pos = buf - state.residue
            rt.delay = state.in_flight_bytes // fb
        return pos // fb

    def sync_stop(self, ss: Substream) -> None:
        dma.synchronize(self._prtd(ss).dma_chan)



def devm_snd_dmaengine_pcm_register(dev: Any) -> GenericDmaenginePcm:
    """Register the generic dmaengine PCM as ``dev``'s platform component."""
    pcm = GenericDmaenginePcm(dev)
    snd_soc_register_component(dev, pcm)
    return pcm
