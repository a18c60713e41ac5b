"""``dma-audio capture``: the DEV_TO_MEM cyclic path into an audio file.

Counterpart: arecord. What the file holds after Ctrl-C, SIGTERM, SIGKILL, a full disk or a
lost device: docs/design-notes.md.
"""

from __future__ import annotations

import errno
from typing import Any

from demos.audiofile import AudioOutput
from demos.interrupt import Terminated
from demos.plug import Converter, plan, plan_exact
from demos.progress import StreamProgress
from demos.session import Session
from demos.version import version_line
from pcm import alsa
from pcm.errors import PcmError
from pcm.runtime import PcmStream

WAV_FORMATS = ("U8", "S16_LE", "S24_LE", "S32_LE", "FLOAT_LE")  # what arecord writes to a WAV
SYNC_S = 1.0  # seconds of audio between header rewrites


def capture(sess: Session, path: str, seconds: float, args: Any, say) -> dict:
    pcm = alsa.open_pcm("default", PcmStream.CAPTURE)
    fmt, channels, rate = args.format or "S16_LE", args.channels or 2, args.rate or 48000
    result: dict = {"file": path, "format": fmt, "channels": channels, "rate": rate,
                    "frames": 0, "overruns": 0, "stopped_by": "duration"}
    try:  # as arecord, the file is made once the hardware took the parameters
        # the hardware's side; its notes are left, as the data flows the other way
        hw = plan(pcm.hw_params_any(), fmt, channels, rate, (fmt, channels, rate),
                  pcm.rate_near)
        pcm.set_params(hw.format, hw.channels, hw.rate, args.period_size, args.buffer_size,
                       args.periods)
        back = plan_exact(fmt, channels, rate, (hw.format, hw.channels, hw.rate))  # to file
        conv = Converter(hw.format, hw.rate, back)
        out = AudioOutput(path, rate, fmt, channels, int(round(seconds * rate)))
    except BaseException:
        pcm.close()
        raise
    if back.notes:
        say(f"plug: {'; '.join(back.notes)}")
    want = int(round(seconds * rate))  # the file's frames
    total = -(-want * hw.rate // rate)  # the hardware's that give them (resample_poly: ceil)
    sink = _FileSink(out, conv, want, rate)
    try:
        _read_into(sink, pcm, seconds, total, result, args, say, sess)
    except KeyboardInterrupt as e:
        result["stopped_by"] = "SIGTERM" if isinstance(e, Terminated) else "interrupt"
        raise
    except Exception as e:
        lost = sess.endpoint.lost  # the PCM's EBADFD or ENODEV then says only "disconnected"
        result["stopped_by"] = f"sound device lost: {lost}" if lost else f"error: {e}"
        raise
    finally:
        try:
            sink.finish()
        finally:
            result["frames"] = out.frames
            say(f"wrote {out.frames} frames to {out.name} ({result['stopped_by']})")
            try:
                pcm.close()
            except Exception as e:  # a lost device: the file is what matters now
                say(f"close: {e}")
    return result


class _FileSink:
    """Read frames, converted and written as they come, at most ``want`` of them; the
    header rewritten every :data:`SYNC_S` of audio."""

    def __init__(self, out: AudioOutput, conv: Converter, want: int, rate: int) -> None:
        self.out, self.conv, self.want = out, conv, want
        self.every = max(int(SYNC_S * rate), 1)
        self.next_sync = self.every

    def write(self, frames) -> None:
        self._put(self.conv.push(frames))

    def _put(self, frames) -> None:
        frames = frames[: self.want - self.out.frames]
        if len(frames):
            self.out.write(frames)
        if self.out.frames >= self.next_sync:
            self.out.sync()
            self.next_sync = self.out.frames + self.every

    def finish(self) -> None:
        try:
            self._put(self.conv.finish())
        finally:
            self.out.close()


def _read_into(sink: _FileSink, pcm: alsa.Pcm, seconds: float, total: int,
               result: dict, args: Any, say, sess: Session | None = None) -> None:
    """arecord's loop: ``total`` frames (``seconds`` of the file), a period at a time, into
    ``sink``; an overrun is counted and recovered from."""
    if args.verbose:
        say(version_line())
        say(pcm.dump_setup().rstrip())
    rt = pcm.runtime
    fmt, rate = pcm.substream.format.name, rt.rate
    say(f"Capturing {seconds:g} s into {sink.out.name}: {fmt}, {rate} Hz, {rt.channels} ch, "
        f"period {rt.period_size}, buffer {rt.buffer_size} frames")
    pcm.prepare()
    got = 0
    live = None
    if getattr(args, "live", False) and sess is not None:
        from demos.live import snapshot

        def live(done: int, xruns: int):
            return snapshot(sess, pcm, xruns, xruns, sink.out.name, done, total)
    with StreamProgress(total, rate, enabled=args.progress, name=sink.out.name,
                        live=live) as prog:
        while got < total:
            try:
                data = pcm.readi(min(rt.period_size, total - got))
            except PcmError as e:
                if e.errno != errno.EPIPE:
                    raise
                result["overruns"] += 1
                say(f"overrun!!! (xrun {result['overruns']})")
                pcm.recover(e)
                continue
            sink.write(data)
            got += len(data)
            prog.update(got, rt.avail() / rt.buffer_size, result["overruns"])
