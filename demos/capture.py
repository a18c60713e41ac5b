"""``dma-audio capture``: the DEV_TO_MEM cyclic path into a WAV file.

What arecord does, on this board: set up the capture PCM (through the plug step when the
hardware cannot take the file's format, channels or rate: it runs at the nearest setup,
and what it reads is converted), read period by period (an overrun is recovered with
prepare and counted) until the duration is reached. The frames read are kept, and the WAV
is written in a ``finally``: Ctrl-C, SIGTERM (turned into the same interruption) or a lost
sound device all leave a valid WAV with every frame read. The plug's conversion runs
there, once over the whole take (see :mod:`demos.plug`).
"""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np

from demos.interrupt import Terminated, sigterm_as_interrupt
from demos.plug import convert, plan, plan_exact
from demos.progress import StreamProgress
from demos.session import Session
from demos.usage import UsageError
from demos.wav import write_wav
from pcm import alsa
from pcm.errors import PcmError
from pcm.formats import FORMATS
from pcm.runtime import PcmStream

WAV_FORMATS = ("U8", "S16_LE", "S24_LE", "S32_LE", "FLOAT_LE")  # what arecord writes to a WAV


def check_output(path: str) -> None:
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{path}: no such directory {parent}")


def capture(sess: Session, path: str, seconds: float, args: Any, say) -> dict:
    pcm = alsa.open_pcm("default", PcmStream.CAPTURE)
    chunks: list[np.ndarray] = []
    fmt, channels, rate = args.format or "S16_LE", args.channels or 2, args.rate or 48000
    result: dict = {"file": path, "format": fmt, "channels": channels, "rate": rate,
                    "frames": 0, "overruns": 0, "stopped_by": "duration"}
    try:  # as arecord, the file is made once the hardware took the parameters
        # the hardware's side; its notes are left, as the data flows the other way
        hw = plan(pcm.hw_params_any(), fmt, channels, rate, (fmt, channels, rate),
                  pcm.rate_near)
        pcm.set_params(hw.format, hw.channels, hw.rate, args.period_size, args.buffer_size,
                       args.periods)
    except BaseException:
        pcm.close()
        raise
    back = plan_exact(fmt, channels, rate, (hw.format, hw.channels, hw.rate))  # read -> file
    if back.notes:
        say(f"plug: {'; '.join(back.notes)}")
    want = int(round(seconds * rate))  # the file's frames
    total = -(-want * hw.rate // rate)  # the hardware's that give them (resample_poly: ceil)
    try:
        with sigterm_as_interrupt():
            _read_into(chunks, pcm, seconds, total, result, args, say)
    except KeyboardInterrupt as e:
        result["stopped_by"] = "SIGTERM" if isinstance(e, Terminated) else "interrupt"
        raise
    except Exception as e:
        lost = sess.endpoint.lost  # the PCM's EBADFD or ENODEV then says only "disconnected"
        result["stopped_by"] = f"sound device lost: {lost}" if lost else f"error: {e}"
        raise
    finally:
        read = np.concatenate(chunks) if chunks else np.zeros((0, hw.channels),
                                                               FORMATS[hw.format].dtype)
        frames = convert(read, hw.format, hw.rate, back)[:want]
        write_wav(path, rate, fmt, frames)
        result["frames"] = int(len(frames))
        say(f"wrote {len(frames)} frames to {path} ({result['stopped_by']})")
        try:
            pcm.close()
        except Exception as e:  # a lost device: the file is what matters now
            say(f"close: {e}")
    return result


def _read_into(chunks: list[np.ndarray], pcm: alsa.Pcm, seconds: float, total: int,
               result: dict, args: Any, say) -> None:
    """arecord's loop: ``total`` frames (``seconds`` of the file), a period at a time, into
    ``chunks``; an overrun is counted and recovered from."""
    if args.verbose:
        say(pcm.dump_setup().rstrip())
    rt = pcm.runtime
    fmt, rate = pcm.substream.format.name, rt.rate
    say(f"Capturing {seconds:g} s into {result['file']}: {fmt}, {rate} Hz, {rt.channels} ch, "
        f"period {rt.period_size}, buffer {rt.buffer_size} frames")
    pcm.prepare()
    got = 0
    with StreamProgress(total, rate, enabled=args.progress) as prog:
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
            chunks.append(data)
            got += len(data)
            prog.update(got, rt.avail() / rt.buffer_size, result["overruns"])
