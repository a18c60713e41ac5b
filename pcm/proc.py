"""Text views of a substream: /proc/asound/cardN/pcmDp/sub0/{hw_params,sw_params,status}
and the setup dump ``aplay -v`` prints, with the DMA channel and its slave config.

Counterpart: sound/core/pcm.c (``snd_pcm_substream_proc_*_read``) and alsa-lib's
``snd_pcm_dump_setup``.
"""

from __future__ import annotations

from pcm.formats import BY_NUMBER
from pcm.pcm_native import Substream
from pcm.runtime import PcmState


def hw_params_text(ss: Substream) -> str:
    rt = ss.runtime
    if rt is None or rt.state == PcmState.OPEN:
        return "closed\n"
    return (f"access: RW_INTERLEAVED\nformat: {BY_NUMBER[rt.format].name}\n"
            f"subformat: STD\nchannels: {rt.channels}\nrate: {rt.rate} ({rt.rate}/1)\n"
            f"period_size: {rt.period_size}\nbuffer_size: {rt.buffer_size}\n")


def sw_params_text(ss: Substream) -> str:
    rt = ss.runtime
    if rt is None or rt.state == PcmState.OPEN:
        return "closed\n"
    return (f"tstamp_mode: NONE\nperiod_step: 1\navail_min: {rt.avail_min}\n"
            f"start_threshold: {rt.start_threshold}\nstop_threshold: {rt.stop_threshold}\n"
            f"silence_threshold: {rt.silence_threshold}\nsilence_size: {rt.silence_size}\n"
            f"boundary: {rt.boundary}\n")


def status_text(ss: Substream) -> str:
    rt = ss.runtime
    if rt is None:
        return "closed\n"
    if rt.state == PcmState.OPEN:
        return "state: OPEN\n"
    st = ss.status()
    t = st.trigger_tstamp_ns
    now = st.tstamp_ns
    return (f"state: {st.state.name}\n"
            f"trigger_time: {t // 1_000_000_000}.{t % 1_000_000_000:09d}\n"
            f"tstamp      : {now // 1_000_000_000}.{now % 1_000_000_000:09d}\n"
            f"delay       : {st.delay}\navail       : {st.avail}\n"
            f"avail_max   : {st.avail_max}\n-----\n"
            f"hw_ptr      : {st.hw_ptr}\nappl_ptr    : {st.appl_ptr}\n")


def dma_text(ss: Substream) -> str:
    """The DMA side: channel, slave config, ring address and size."""
    prtd = ss.private_data
    if prtd is None:
        return ""
    chan = prtd.dma_chan
    cfg = getattr(ss, "slave_config", None)
    dev = chan.device.dev
    driver = getattr(getattr(dev, "driver", None), "name", "") or "?"
    lines = [f"  dma channel  : {chan.name} ({dev.name}, driver {driver})",
             f"  ring         : {ss.dma_bytes} bytes at {ss.dma_addr:#010x} (coherent)"]
    if cfg is not None:
        lines.append(f"  slave_config : direction={cfg.direction.name} "
                     f"src_addr={cfg.src_addr:#x} dst_addr={cfg.dst_addr:#x} "
                     f"src_addr_width={int(cfg.src_addr_width)} "
                     f"dst_addr_width={int(cfg.dst_addr_width)} "
                     f"src_maxburst={cfg.src_maxburst} dst_maxburst={cfg.dst_maxburst}")
    return "\n".join(lines) + "\n"


def dump_setup(ss: Substream, card_name: str) -> str:
    """What ``aplay -v`` prints after setup."""
    rt = ss.runtime
    assert rt is not None
    period_time = rt.period_size * 1_000_000 // rt.rate
    fmt = BY_NUMBER[rt.format]
    return (
        f"Hardware PCM card {card_name} device 0 subdevice 0 ({ss.name})\n"
        "Its setup is:\n"
        f"  stream       : {ss.stream.name}\n"
        "  access       : RW_INTERLEAVED\n"
        f"  format       : {fmt.name}\n"
        "  subformat    : STD\n"
        f"  channels     : {rt.channels}\n"
        f"  rate         : {rt.rate}\n"
        f"  exact rate   : {rt.rate} ({rt.rate}/1)\n"
        f"  msbits       : {fmt.width}\n"
        f"  buffer_size  : {rt.buffer_size}\n"
        f"  period_size  : {rt.period_size}\n"
        f"  period_time  : {period_time}\n"
        "  tstamp_mode  : NONE\n"
        "  tstamp_type  : MONOTONIC\n"
        "  period_step  : 1\n"
        f"  avail_min    : {rt.avail_min}\n"
        "  period_event : 0\n"
        f"  start_threshold  : {rt.start_threshold}\n"
        f"  stop_threshold   : {rt.stop_threshold}\n"
        f"  silence_threshold: {rt.silence_threshold}\n"
        f"  silence_size : {rt.silence_size}\n"
        f"  boundary     : {rt.boundary}\n"
        f"  appl_ptr     : {rt.appl_ptr}\n"
        f"  hw_ptr       : {rt.hw_ptr}\n"
        + dma_text(ss)
    )
