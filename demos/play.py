"""``dma-audio play``: WAV files (or the demo sound) through the simulated cyclic DMA path.

What aplay does, on this board: open the PCM, set hw_params (through the plug step when
the hardware cannot take the file as it is) and aplay's sw_params (the DMA starts once the
ring is full), prepare, write period by period (recovering from an underrun with prepare,
and counting it), the last period filled out with silence as aplay pads its last chunk,
then drain, which ends at that period's boundary. ``play`` returns only once the card has
had the time to play its own buffer (PortAudio drops what is still queued when a stream
is closed).
"""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np

from demos.plug import WORD_FORMAT, convert, plan
from demos.progress import StreamProgress
from demos.session import Session
from demos.wav import Wav, write_wav
from pcm import alsa
from pcm.errors import PcmError
from pcm.formats import FORMATS, silence
from pcm.runtime import PcmStream


def demo_sound(rate: int = 48000, seconds: float = 3.0) -> Wav:
    """A stereo S16_LE chime: an arpeggio of decaying partials, panned left to right."""
    t = np.arange(int(rate * seconds)) / rate
    out = np.zeros((len(t), 2))
    notes = [261.63, 329.63, 392.00, 523.25, 659.25, 783.99]
    for k, f in enumerate(notes):
        start = k * seconds / (len(notes) + 2)
        tt = np.clip(t - start, 0, None)
        env = (t >= start) * np.exp(-3.0 * tt) * np.minimum(tt * 200, 1)
        tone = env * (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt))
        pan = k / (len(notes) - 1)
        out[:, 0] += (1 - pan) * tone
        out[:, 1] += pan * tone
    out *= 0.35 / max(np.abs(out).max(), 1e-9)
    return Wav(rate, "S16_LE", np.rint(out * 32767).astype("<i2"))


def play_one(sess: Session, wav: Wav, name: str, args: Any, say) -> dict:
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    try:
        space = pcm.hw_params_any()
        want_fmt = args.format or wav.format
        want_ch = args.channels or wav.channels
        want_rate = args.rate or wav.rate
        p = plan(space, want_fmt, want_ch, want_rate, (wav.format, wav.channels, wav.rate),
                 pcm.rate_near)
        data = convert(wav.frames, wav.format, wav.rate, p)
        if p.notes:
            say(f"plug: {'; '.join(p.notes)}")
        pcm.set_params(p.format, p.channels, p.rate, args.period_size, args.buffer_size,
                       args.periods)
        # aplay's sw_params: wake a period at a time, start once the ring is full, stop
        # (underrun) when it is empty
        rt = pcm.runtime
        pcm.sw_params(avail_min=rt.period_size, start_threshold=rt.buffer_size,
                      stop_threshold=rt.buffer_size)
        if args.verbose:
            say(pcm.dump_setup().rstrip())
        say(f"Playing {name}: {p.format}, {p.rate} Hz, {p.channels} ch, period "
            f"{rt.period_size}, buffer {rt.buffer_size} frames")
        pcm.prepare()
        xruns = 0
        period = rt.period_size
        pad = -len(data) % period  # aplay's pcm_write: the last chunk is a whole period
        tail = silence(FORMATS[p.format], pad, p.channels).view(FORMATS[p.format].dtype)
        tail = tail.reshape(pad, p.channels)
        with StreamProgress(len(data), p.rate, enabled=args.progress) as prog:
            pos = 0
            chunks = [data, tail]
            for chunk in chunks:
                done = 0
                while done < len(chunk):
                    try:
                        n = pcm.writei(chunk[done : done + period])
                    except PcmError as e:
                        if e.errno != errno.EPIPE:
                            raise
                        xruns += 1
                        say(f"underrun!!! (xrun {xruns})")
                        pcm.recover(e)
                        continue
                    done += n
                    if chunk is data:
                        pos = done
                    r = pcm.runtime
                    prog.update(min(pos, len(data)), r.hw_avail() / r.buffer_size, xruns)
            pcm.drain()
            prog.update(len(data), 0.0, xruns, final=True)
        _let_card_play(sess)
        status = pcm.status()
        return {"file": name, "frames": int(len(data)), "format": p.format, "rate": p.rate,
                "channels": p.channels, "xruns": status.xruns,  # counts those seen above
                "period_size": rt.period_size, "buffer_size": rt.buffer_size}
    finally:
        pcm.close()


def _let_card_play(sess: Session) -> None:
    """Wait, on the card's clock, for the card's own buffer to play out."""
    ep = sess.endpoint
    if ep.is_virtual or ep.card is None:
        return
    clock = sess.clock
    rate = ep.config[0]
    frames = ep.latency_frames() + 2 * max(ep.card.blocksize, 1024)
    target = clock.now_ns + frames * 1_000_000_000 // rate + 200_000_000
    clock.wait_until(lambda: clock.now_ns >= target, 10_000_000_000)


def save_tap(sess: Session, path: str, say) -> list[str]:
    """Write what the card was sent: one WAV when every stream had the same rate, channels
    and format, else one for each stream, ``PATH-1.wav``, ``PATH-2.wav`` and so on (a WAV
    has one format). The names written."""
    streams = sess.endpoint.tapped_streams()
    if not streams:
        return []
    if len({config for config, _ in streams}) == 1:
        outs = [(path, streams[0][0], sess.endpoint.tapped())]
    else:
        stem, ext = os.path.splitext(path)
        outs = [(f"{stem}-{i}{ext}", config, frames)
                for i, (config, frames) in enumerate(streams, 1)]
        say(f"tap: the streams differ in rate, channels or format, so one WAV each: "
            f"{', '.join(out for out, _, _ in outs)}")
    for out, (rate, _, bits), frames in outs:
        fmt = WORD_FORMAT[bits]
        write_wav(out, rate, fmt, frames.astype(FORMATS[fmt].dtype))
    return [out for out, _, _ in outs]
