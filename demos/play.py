"""``dma-audio play``: audio files (or the demo sound) through the simulated cyclic DMA path.

Counterpart: aplay's playback loop (hw_params and sw_params as aplay sets them, a period
at a time, underruns recovered by prepare, the last period padded, then drain).
Departs from aplay: a file ending within hw_params' fifo_size of a period boundary gets
periods of silence more, since the drain's stop flushes the FIFO (docs/departures.md).
"""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np

from demos.audiofile import AudioOutput, Wav
from demos.plug import WORD_FORMAT, Converter, plan
from demos.progress import StreamProgress
from demos.session import Session
from demos.version import version_line
from pcm import alsa
from pcm.errors import PcmError
from pcm.formats import FORMATS, silence
from pcm.runtime import PcmStream

READ_PERIODS = 4  # file frames read at a time, in periods


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
    return Wav(rate, "S16_LE", np.rint(out * 32767).astype("<i2"), "the demo sound")


class TapWriter:
    """``--tap``: what the card was sent, written as it goes. One WAV while every stream
    has the same rate, channels and format; from the first that differs, one WAV per
    run of alike streams, ``PATH-1.wav``, ``PATH-2.wav``, ... (a WAV has one format)."""

    def __init__(self, path: str, say, frames_hint: int | None = None) -> None:
        self.path, self.say, self.hint = path, say, frames_hint
        self.out: AudioOutput | None = None
        self.config: tuple[int, int, int] | None = None
        self.names: list[str] = []

    def drain(self, sess: Session) -> None:
        """Write what the tap took since the last call."""
        for config, blocks in sess.endpoint.take_tap():
            self.write(config, blocks)

    def write(self, config: tuple[int, int, int], blocks: list[np.ndarray]) -> None:
        """Blocks a stream of ``config`` (rate, channels, word bits) sent the card."""
        self._open(config)
        assert self.out is not None
        for block in blocks:
            self.out.write(block)

    def _open(self, config: tuple[int, int, int]) -> None:
        if config == self.config:
            return
        rate, channels, bits = config
        stem, ext = os.path.splitext(self.path)
        if self.out is not None:
            self.out.close()
            if len(self.names) == 1:  # a second kind of stream: number the files
                os.replace(self.path, f"{stem}-1{ext}")
                self.names = [f"{stem}-1{ext}"]
                self.say(f"tap: the streams differ in rate, channels or format, so one WAV "
                         f"each: {stem}-1{ext}, {stem}-2{ext}, ...")
        name = f"{stem}-{len(self.names) + 1}{ext}" if self.names else self.path
        self.out = AudioOutput(name, rate, WORD_FORMAT[bits], channels, self.hint)
        self.names.append(name)
        self.config = config

    def close(self) -> list[str]:
        if self.out is not None:
            self.out.close()
            self.out = None
        return self.names


def play_one(sess: Session, src: Any, args: Any, say,
             tap: TapWriter | None = None) -> dict:
    """Play ``src`` (an :class:`~demos.audiofile.AudioInput` or a
    :class:`~demos.audiofile.Wav`: ``format``, ``channels``, ``rate``, ``length``,
    ``blocks(n)``) through the default PCM; the summary of the run."""
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    try:
        space = pcm.hw_params_any()
        want_fmt = args.format or src.format
        want_ch = args.channels or src.channels
        want_rate = args.rate or src.rate
        p = plan(space, want_fmt, want_ch, want_rate, (src.format, src.channels, src.rate),
                 pcm.rate_near)
        if p.notes:
            say(f"plug: {'; '.join(p.notes)}")
        hw = pcm.set_params(p.format, p.channels, p.rate, args.period_size, args.buffer_size,
                            args.periods)
        # aplay's sw_params: wake a period at a time, start once the ring is full, stop
        # (underrun) when it is empty
        rt = pcm.runtime
        pcm.sw_params(avail_min=rt.period_size, start_threshold=rt.buffer_size,
                      stop_threshold=rt.buffer_size)
        if args.verbose:
            say(version_line())
            say(pcm.dump_setup().rstrip())
        say(f"Playing {src.name}: {p.format}, {p.rate} Hz, {p.channels} ch, period "
            f"{rt.period_size}, buffer {rt.buffer_size} frames")
        pcm.prepare()
        period = rt.period_size
        total = None if src.length is None else -(-src.length * p.rate // src.rate)
        writer = _Writer(pcm, say, tap, sess)
        conv = Converter(src.format, src.rate, p)
        live = None
        if getattr(args, "live", False):
            from demos.live import snapshot

            def live(done: int, xruns: int):
                return snapshot(sess, pcm, xruns, writer.recoveries, src.name, done,
                                total or 0)
        with StreamProgress(total or 0, p.rate, enabled=args.progress, name=src.name,
                            live=live) as prog:
            writer.progress = prog
            for block in src.blocks(period * READ_PERIODS):
                writer.feed(conv.push(block))
            writer.feed(conv.finish())
            writer.flush_padded(silence(FORMATS[p.format], period, p.channels)
                                .view(FORMATS[p.format].dtype).reshape(period, p.channels),
                                hw.fifo_size)
            pcm.drain()
            prog.update(writer.done, 0.0, writer.xruns, final=True)
        if tap is not None:
            tap.drain(sess)
        _let_card_play(sess)
        if tap is not None:
            tap.drain(sess)
        return {"file": src.name, "frames": writer.done, "format": p.format,
                "rate": p.rate, "channels": p.channels, "xruns": writer.xruns,
                "padded": writer.padded, "period_size": rt.period_size,
                "buffer_size": rt.buffer_size}
    finally:
        pcm.close()


class _Writer:
    """aplay's write loop: whole periods into the ring, an underrun recovered and counted;
    what does not make a period waits for the next block."""

    def __init__(self, pcm: alsa.Pcm, say, tap: TapWriter | None, sess: Session) -> None:
        self.pcm, self.say, self.tap, self.sess = pcm, say, tap, sess
        rt = pcm.runtime
        self.period = rt.period_size
        self.pending = np.zeros((0, rt.channels), FORMATS[pcm.substream.format.name].dtype)
        self.done = 0  # frames of the file written
        self.padded = 0  # frames of closing silence written
        self.xruns = 0
        self.recoveries = 0  # xruns recovered from (snd_pcm_recover), so far all of them
        self.progress: StreamProgress | None = None

    def feed(self, frames: np.ndarray) -> None:
        data = np.concatenate([self.pending, frames]) if len(self.pending) else frames
        whole = len(data) - len(data) % self.period
        self._write(data[:whole])
        self.pending = data[whole:]
        self.done += len(frames)

    def flush_padded(self, pad: np.ndarray, fifo_size: int) -> None:
        """The last frames, filled out to a whole period with ``pad`` (a period of
        silence); whole periods more while that leaves less than ``fifo_size`` frames
        of silence, since the drain's stop flushes what the FIFO still holds."""
        if not self.done:
            return  # an empty file: nothing to drain
        short = -len(self.pending) % self.period
        short += -(-max(fifo_size - short, 0) // self.period) * self.period
        self._write(np.concatenate([self.pending, np.resize(pad, (short, pad.shape[1]))]))
        self.padded = short
        self.pending = self.pending[:0]

    def _write(self, data: np.ndarray) -> None:
        done = 0
        while done < len(data):
            try:
                done += self.pcm.writei(data[done : done + self.period])
            except PcmError as e:
                if e.errno != errno.EPIPE:
                    raise
                self.xruns += 1
                self.say(f"underrun!!! (xrun {self.xruns})")
                self.pcm.recover(e)
                self.recoveries += 1
                continue
            if self.tap is not None:
                self.tap.drain(self.sess)
            if self.progress is not None:
                r = self.pcm.runtime
                self.progress.update(self.done, r.hw_avail() / r.buffer_size, self.xruns)


def _let_card_play(sess: Session) -> None:
    """Wait, on the card's clock, for the card's own buffer to play out."""
    ep = sess.endpoint
    if ep.is_virtual or ep.far_end is None:
        return
    clock = sess.clock
    rate = ep.config[0]
    frames = ep.latency_frames() + 2 * max(ep.far_end.blocksize, 1024)
    target = clock.now_ns + frames * 1_000_000_000 // rate + 200_000_000
    clock.wait_until(lambda: clock.now_ns >= target, 10_000_000_000)
