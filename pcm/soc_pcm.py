"""The ASoC layer: DAIs, components, DAI links, cards, and the PCM ops that join them.

Counterpart: sound/soc/soc-core.c, soc-dai.c, soc-component.c and soc-pcm.c.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pcm import params as hp
from pcm.errors import PcmError
from pcm.pcm_native import PcmHardware, Substream, Trigger
from pcm.runtime import PcmStream


@dataclass
class PcmStreamCaps:
    """``struct snd_soc_pcm_stream``: what one direction of a DAI can carry."""

    stream_name: str
    formats: set[int]
    rates: list[int] | None = None
    rate_min: int = 0
    rate_max: int = hp.UINT_MAX
    channels_min: int = 1
    channels_max: int = 2


@dataclass
class DmaData:
    """``struct snd_dmaengine_dai_dma_data``: where and how the DMA meets the FIFO."""

    addr: int
    addr_width: int
    maxburst: int
    chan_name: str | None = None
    fifo_size: int = 0  # bytes


@dataclass
class Dai:
    """``struct snd_soc_dai``."""

    name: str
    dev: Any
    playback: PcmStreamCaps | None
    capture: PcmStreamCaps | None
    ops: Any = None  # struct snd_soc_dai_ops: any object with some of its hooks
    dma_data: dict[PcmStream, DmaData] = field(default_factory=dict)
    active: dict[PcmStream, int] = field(default_factory=lambda: {PcmStream.PLAYBACK: 0,
                                                                   PcmStream.CAPTURE: 0})
    rate: int = 0  # the rate of the active streams (symmetric_rate)

    def caps(self, stream: PcmStream) -> PcmStreamCaps | None:
        return self.playback if stream == PcmStream.PLAYBACK else self.capture

    def call(self, op: str, *args: Any) -> Any:
        fn = getattr(self.ops, op, None)
        return fn(*args, self) if fn is not None else None


class Component(Protocol):
    """``struct snd_soc_component_driver``'s PCM hooks, as the platform provides them."""

    name: str

    def open(self, substream: Substream) -> None: ...
    def close(self, substream: Substream) -> None: ...
    def hw_params(self, substream: Substream, params: hp.HwParams) -> None: ...
    def hw_free(self, substream: Substream) -> None: ...
    def trigger(self, substream: Substream, cmd: Trigger) -> None: ...
    def pointer(self, substream: Substream) -> int: ...
    def sync_stop(self, substream: Substream) -> None: ...


_components: dict[str, list[Any]] = {}  # device name -> registered DAIs and components
_cards: list[SocCard] = []
_lock = threading.Lock()


def snd_soc_register_component(dev: Any, *parts: Any) -> None:
    """Register DAIs and PCM components under their device's name."""
    with _lock:
        _components.setdefault(dev.name, []).extend(parts)


def snd_soc_unregister_component(dev: Any) -> None:
    with _lock:
        _components.pop(dev.name, None)


def lookup_dai(dev_name: str) -> Dai:
    for part in _components.get(dev_name, []):
        if isinstance(part, Dai):
            return part
    raise PcmError(errno.ENODEV, f"no DAI registered by {dev_name!r}")


def lookup_component(dev_name: str) -> Any:
    for part in _components.get(dev_name, []):
        if not isinstance(part, Dai):
            return part
    raise PcmError(errno.ENODEV, f"no PCM component registered by {dev_name!r}")


@dataclass
class DaiLink:
    """``struct snd_soc_dai_link``."""

    name: str
    stream_name: str
    cpu: Dai
    codec: Dai
    platform: Any
    symmetric_rate: bool = True


def _intersect(a: PcmStreamCaps, b: PcmStreamCaps) -> PcmHardware:
    """``soc_pcm_hw_update_*``: the PCM hardware both DAIs of a link can carry."""
    rates = None
    if a.rates is not None or b.rates is not None:
        ra = set(a.rates) if a.rates is not None else None
        rb = set(b.rates) if b.rates is not None else None
        pool = (ra & rb) if ra is not None and rb is not None else (ra or rb or set())
        rates = sorted(pool)
    return PcmHardware(
        formats=a.formats & b.formats,
        rates=rates,
        rate_min=max(a.rate_min, b.rate_min),
        rate_max=min(a.rate_max, b.rate_max),
        channels_min=max(a.channels_min, b.channels_min),
        channels_max=min(a.channels_max, b.channels_max),
    )


class SocPcmRuntime:
    """``struct snd_soc_pcm_runtime``: one DAI link's PCM, and its ``snd_pcm_ops``."""

    def __init__(self, card: SocCard, link: DaiLink, device: int) -> None:
        self.card, self.link, self.device = card, link, device
        # snd_soc_pcm_dai_delay's DAIs, each op looked up once: the pointer runs them all
        self.delay_ops: list[tuple[Callable[[Substream, Dai], int], Dai]] = [
            (fn, dai) for dai in (link.cpu, link.codec)
            if (fn := getattr(dai.ops, "delay", None)) is not None]
        clock = card.clock
        self.substreams: dict[PcmStream, Substream] = {}
        for stream, letter in ((PcmStream.PLAYBACK, "p"), (PcmStream.CAPTURE, "c")):
            if link.cpu.caps(stream) and link.codec.caps(stream):
                name = f"pcmC{card.index}D{device}{letter}"
                ss = self.substreams[stream] = Substream(name, stream, self, clock)
                ss.card = card

    def _dais(self) -> tuple[Dai, Dai]:
        return self.link.cpu, self.link.codec

    # -- snd_pcm_ops --

    def open(self, ss: Substream) -> None:
        cpu, codec = self._dais()
        a, b = cpu.caps(ss.stream), codec.caps(ss.stream)
        assert a is not None and b is not None
        hw = _intersect(a, b)
        if not hw.formats:
            raise PcmError(errno.EINVAL, f"{self.link.name}: the DAIs share no sample format")
        self.link.platform.open(ss)  # the platform narrows hw by the DMA's caps
        started: list[Dai] = []
        try:
            for dai in (cpu, codec):
                dai.call("startup", ss)
                started.append(dai)
        except BaseException:  # soc_pcm_clean: what was opened is closed again
            for dai in started:
                dai.call("shutdown", ss)
            self.link.platform.close(ss)
            raise
        ss.hw.formats &= hw.formats
        ss.hw.rates, ss.hw.rate_min, ss.hw.rate_max = hw.rates, hw.rate_min, hw.rate_max
        ss.hw.channels_min, ss.hw.channels_max = hw.channels_min, hw.channels_max
        if self.link.symmetric_rate:
            for dai in (cpu, codec):
                if dai.rate and any(dai.active.values()):
                    ss.hw.rates, ss.hw.rate_min, ss.hw.rate_max = None, dai.rate, dai.rate
        for dai in (cpu, codec):
            dai.active[ss.stream] += 1

    def close(self, ss: Substream) -> None:
        cpu, codec = self._dais()
        for dai in (cpu, codec):
            dai.active[ss.stream] -= 1
            dai.call("shutdown", ss)
            if not any(dai.active.values()):
                dai.rate = 0
        self.link.platform.close(ss)

    def hw_params(self, ss: Substream, params: hp.HwParams) -> None:
        cpu, codec = self._dais()
        codec.call("hw_params", ss, params)
        cpu.call("hw_params", ss, params)
        self.link.platform.hw_params(ss, params)
        for dai in (cpu, codec):
            dai.rate = params.get("RATE")

    def hw_free(self, ss: Substream) -> None:
        self.link.platform.hw_free(ss)
        for dai in self._dais():
            dai.call("hw_free", ss)

    def prepare(self, ss: Substream) -> None:
        for dai in self._dais():
            dai.call("prepare", ss)

    def trigger(self, ss: Substream, cmd: Trigger) -> None:
        cpu, codec = self._dais()
        if cmd in (Trigger.START, Trigger.PAUSE_RELEASE, Trigger.RESUME):
            self.link.platform.trigger(ss, cmd)
            cpu.call("trigger", ss, cmd)
            codec.call("trigger", ss, cmd)
        else:
            cpu.call("trigger", ss, cmd)
            codec.call("trigger", ss, cmd)
            self.link.platform.trigger(ss, cmd)

    def pointer(self, ss: Substream) -> int:
        """``soc_pcm_pointer``: the platform's position, then ``runtime.delay`` = the CPU
        DAI's delay + the codec DAI's (``snd_soc_pcm_dai_delay``; no component here has a
        ``delay`` op). As in mainline, this replaces what the platform's pointer put in
        ``delay`` (the generic dmaengine PCM's in-flight bytes, which the PL08x never
        reports); kernels before the component delay op added the two."""
        pos = self.link.platform.pointer(ss)
        delay = 0
        for fn, dai in self.delay_ops:
            delay += fn(ss, dai) or 0
        assert ss.runtime is not None
        ss.runtime.delay = delay
        return pos

    def sync_stop(self, ss: Substream) -> None:
        self.link.platform.sync_stop(ss)


class SocCard:
    """``struct snd_soc_card``: the machine, its links, and its PCM devices."""

    def __init__(self, name: str, long_name: str, clock: Any, links: list[DaiLink]) -> None:
        self.name, self.long_name, self.clock = name, long_name, clock
        self.links = links
        self.index = -1
        self.rtds: list[SocPcmRuntime] = []
        self.shutdown = False  # snd_card_disconnect was called: the card is gone
        self.pdev: Any = None  # the machine driver's device, when it has one

    def disconnect(self) -> None:
        """``snd_card_disconnect``: the card is gone (its device was unplugged).

        ``shutdown`` is set, so the open PCM files answer ENODEV from now on (see
        :class:`pcm.alsa.Pcm`) except for close, and the card leaves :func:`cards`. Each
        open substream is disconnected (``snd_pcm_dev_disconnect``: a running one stopped,
        all set DISCONNECTED, waiters woken), then each stopped DMA synchronized
        (``snd_pcm_sync_stop``). ASoC gets here through ``snd_soc_unbind_card``, whose
        ``snd_card_disconnect_sync`` then waits for the files to close before freeing
        the card; the model frees nothing, so it does not wait: close runs the usual
        hw_free and close."""
        with _lock:
            if self.shutdown:
                return
            self.shutdown = True
        subs = [ss for rtd in self.rtds for ss in rtd.substreams.values()]
        for ss in subs:
            ss.disconnect()
        for ss in subs:
            with ss.open_mutex:  # as the kernel holds pcm->open_mutex: not mid-close
                ss.sync_stop()

    def pcm(self, device: int, stream: PcmStream) -> Substream:
        """The substream of PCM ``device`` in direction ``stream`` (ENOENT if none)."""
        if not 0 <= device < len(self.rtds) or stream not in self.rtds[device].substreams:
            raise PcmError(errno.ENOENT, f"card {self.name!r} has no {stream.name.lower()} "
                           f"PCM device {device}")
        return self.rtds[device].substreams[stream]

    def suspend_all(self) -> None:
        """``snd_pcm_suspend_all`` for each PCM device, as ``snd_soc_suspend`` calls it:
        every open substream suspended (those with nothing to suspend skipped), then each
        stopped DMA synchronized (``snd_pcm_sync_stop``)."""
        subs = [ss for rtd in self.rtds for ss in rtd.substreams.values()
                if ss.runtime is not None]
        for ss in subs:
            try:
                ss.suspend()
            except PcmError as e:
                if e.errno != errno.EBUSY:
                    raise
        for ss in subs:
            ss.sync_stop()


def snd_soc_register_card(card: SocCard) -> None:
    """Bind the card: number it and make one PCM device per link."""
    with _lock:
        used = {c.index for c in _cards}
        card.index = min(i for i in range(len(_cards) + 1) if i not in used)
        _cards.append(card)
    card.rtds = [SocPcmRuntime(card, link, i) for i, link in enumerate(card.links)]


def snd_soc_unregister_card(card: SocCard) -> None:
    with _lock:
        if card in _cards:
            _cards.remove(card)


def cards() -> list[SocCard]:
    """Registered cards that are not disconnected, by index (``/proc/asound/cards``)."""
    with _lock:
        return sorted((c for c in _cards if not c.shutdown), key=lambda c: c.index)
