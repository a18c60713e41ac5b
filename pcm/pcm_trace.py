"""The snd_pcm tracepoints' messages, as the kernel's trace buffer shows them.

Counterpart: sound/core/pcm_trace.h (hwptr, hw_ptr_error, xrun, applptr); the lines
around them are demos/ftrace.py's.
"""

from __future__ import annotations

import threading
from typing import TextIO

from pcm.pcm_native import Substream

EVENTS = ("hwptr", "hw_ptr_error", "xrun", "applptr")


def trace_message(event: str, ss: Substream, f: dict) -> str | None:
    """The TP_printk text of one of :data:`EVENTS`; None for any other hook."""
    rt = ss.runtime
    if event not in EVENTS or rt is None:
        return None
    head = f"{ss.name}/sub0"  # pcmC%dD%d%s/sub%d
    geometry = f"period={rt.period_size}, buf={rt.buffer_size}"
    if event == "hwptr":
        return (f"{head}: {'IRQ' if f['in_interrupt'] else 'POS'}: pos={f['pos']}, "
                f"old={f['old_hw_ptr']}, base={f['hw_ptr_base']}, {geometry}")
    if event == "hw_ptr_error":
        return f"{head}: ERROR: {f['reason']}"
    if event == "xrun":
        return f"{head}: XRUN: old={f['hw_ptr']}, base={f['hw_ptr_base']}, {geometry}"
    return f"{head}: prev={f['prev']}, curr={f['curr']}, avail={rt.avail()}, {geometry}"


class TraceWriter:
    """Writes the snd_pcm events of the substreams it is attached to, one line each.

    Called with the stream lock held, from the writer's thread or the bottom half's;
    its own lock keeps the lines of two substreams (a duplex run) whole."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()
        self._attached: list[Substream] = []

    def attach(self, ss: Substream) -> None:
        ss.tracepoints.append(self)
        self._attached.append(ss)

    def detach(self) -> None:
        for ss in self._attached:
            if self in ss.tracepoints:
                ss.tracepoints.remove(self)
        self._attached = []

    def __call__(self, event: str, ss: Substream, f: dict) -> None:
        msg = trace_message(event, ss, f)
        if msg is None:
            return
        t = ss.clock.now_ns
        line = f"{t // 1_000_000_000:6d}.{t % 1_000_000_000 // 1000:06d}: {event}: {msg}\n"
        with self._lock:
            self.out.write(line)
