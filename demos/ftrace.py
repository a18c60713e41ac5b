"""`--trace FILE` and `--trace-json FILE`: the run as ftrace's text buffer shows it, and
in the Chrome trace-event format; trace viewers such as Perfetto's open both.

Counterpart: kernel/trace (the ``trace`` file of tracefs with the nop tracer): its
header, then one line an event with the TASK-PID, CPU# and flags columns and the
timestamp in seconds. The events are the kernel's own where the kernel has them
(snd_pcm's hwptr, applptr, xrun and hw_ptr_error; irq_handler_entry/exit;
softirq_entry/exit for the tasklet; sched_switch as the writer sleeps and wakes) and the
model's own, named as such, for the DMA controller, the DMA engine and the I2S FIFO.

The columns say where each event happens in the model's one CPU: the writer's task, or
the idle task while the writer sleeps; interrupts and bottom halves in hardirq ("d.h1")
and softirq ("..s1") context on whichever task they interrupt. Timestamps are the
hardware clock's.

The JSON holds slices (the writer asleep, each interrupt, each tasklet run) on tracks of
their own, counters (hw_ptr, appl_ptr, avail, the I2S FIFO level) and instants (xruns,
underruns, injected faults). It is written as it goes, as a JSON array closed at the end.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any, TextIO

from pcm.pcm_trace import trace_message

# the four flag columns of the kernels before migrate-disable had its own: every trace
# viewer reads these (some read no fifth)
HEADER = """\
# tracer: nop
#
#                              _-----=> irqs-off
#                             / _----=> need-resched
#                            | / _---=> hardirq/softirq
#                            || / _--=> preempt-depth
#                            ||| /     delay
#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION
#              | |       |   ||||       |         |
"""
COMM = "dma-audio"  # the writer's task name
IDLE = ("<idle>", 0)
HARDIRQ, SOFTIRQ, TASK = "d.h1", "..s1", "...."
# the JSON's tracks (thread ids, under the process's id): the writer is the process itself
HARDIRQ_TID, SOFTIRQ_TID = 1_000_001, 1_000_002
_HWPTR = re.compile(r".*: (?:IRQ|POS): pos=(\d+), old=\d+, base=(\d+),")
_APPLPTR = re.compile(r".*: prev=\d+, curr=(\d+), avail=(\d+),")
_LEVEL = re.compile(r".* level=(\d+)")
INSTANTS = ("xrun", "hw_ptr_error", "i2s_underrun", "fault_injected")


class FtraceWriter:
    """Collects the trace hooks of a board and its PCMs into one ftrace text file.

    Parameters
    ----------
    out : text file or None
        Where the ftrace lines go; the header is written at once.
    clock : VirtualClock or RealtimeClock
        The hardware clock whose time stamps the lines.
    json_out : text file, optional
        Where the Chrome trace events go (a JSON array, closed by :meth:`finish`).
    """

    def __init__(self, out: TextIO | None, clock: Any, json_out: TextIO | None = None) -> None:
        self.out, self.clock, self.json_out = out, clock, json_out
        self.task = (COMM, os.getpid())
        self.sleeping = False
        self.hardirq = self.softirq = 0  # nesting, as preempt_count's
        self._lock = threading.RLock()
        self._hooked: list[tuple[list, Any]] = []
        self._open: dict[str, int] = {}  # JSON slices begun: track name -> start in us
        self._first = True
        if out is not None:
            out.write(HEADER)
        if json_out is not None:
            json_out.write("[\n")
            pid = self.task[1]
            for tid, name in ((pid, "writer (dma-audio)"), (HARDIRQ_TID, "hardirq"),
                              (SOFTIRQ_TID, "softirq (tasklet)")):
                self._json({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                            "args": {"name": name}})

    # -- attaching --

    def hook(self, hooks: list, fn: Any) -> None:
        hooks.append(fn)
        self._hooked.append((hooks, fn))

    def attach_board(self, soc: Any) -> None:
        """The interrupt controller, the bottom halves, the DMA controller, the I2S and
        the fault injector."""
        for hooks in (soc.irqc.trace, soc.cpu.trace, soc.hw["dma0"].trace,
                      soc.hw["i2s0"].trace, soc.trace):
            self.hook(hooks, self.event)

    def attach_pcm(self, ss: Any) -> None:
        self.hook(ss.tracepoints, self.pcm_event)

    def attach_chan(self, chan: Any) -> None:
        if self.event not in chan.trace:
            self.hook(chan.trace, self.event)

    def detach(self) -> None:
        for hooks, fn in self._hooked:
            if fn in hooks:
                hooks.remove(fn)
        self._hooked = []

    def finish(self) -> None:
        """Detach, and close the JSON array."""
        self.detach()
        if self.json_out is not None:
            with self._lock:
                self.json_out.write("\n]\n")

    # -- events --

    def pcm_event(self, event: str, ss: Any, fields: dict) -> None:
        """A Substream tracepoint: the snd_pcm events, and the writer's sleeps; the
        stream's DMA channel is traced from its first event (before its trigger)."""
        prtd = ss.private_data
        chan = getattr(prtd, "dma_chan", None) if prtd is not None else None
        if chan is not None:
            self.attach_chan(chan)
        if event == "sched_out":
            comm, pid = self.task
            self.event("sched_switch", f"prev_comm={comm} prev_pid={pid} prev_prio=120 "
                       "prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120")
            self.sleeping = True
            return
        if event == "sched_in":
            comm, pid = self.task
            self.sleeping = False
            self._line(IDLE, TASK, "sched_switch", "prev_comm=swapper/0 prev_pid=0 "
                       f"prev_prio=120 prev_state=R ==> next_comm={comm} next_pid={pid} "
                       "next_prio=120")
            return
        msg = trace_message(event, ss, fields)
        if msg is not None:
            self.event(event, msg)

    def event(self, event: str, msg: str) -> None:
        """One event in the context the model's CPU is in now."""
        with self._lock:
            if event == "irq_handler_entry":
                self.hardirq += 1
            elif event == "softirq_entry":
                self.softirq += 1
            if event == "irq_handler_exit":
                self.hardirq = max(self.hardirq - 1, 0)
                self._line(self._current(), HARDIRQ, event, msg)
                return
            if event == "softirq_exit":
                self.softirq = max(self.softirq - 1, 0)
                self._line(self._current(), SOFTIRQ, event, msg)
                return
            self._line(self._current(), self._flags(), event, msg)

    def _current(self) -> tuple[str, int]:
        return IDLE if self.sleeping else self.task

    def _flags(self) -> str:
        return HARDIRQ if self.hardirq else SOFTIRQ if self.softirq else TASK

    def _line(self, task: tuple[str, int], flags: str, event: str, msg: str) -> None:
        t = self.clock.now_ns
        comm, pid = task
        with self._lock:
            if self.out is not None:
                self.out.write(f"{comm:>16}-{pid:<5} [000] {flags} "
                               f"{t // 1_000_000_000:5d}.{t % 1_000_000_000 // 1000:06d}: "
                               f"{event}: {msg}\n")
            if self.json_out is not None:
                self._chrome(t / 1000, event, msg)

    # -- the Chrome trace-event format --

    def _json(self, ev: dict) -> None:
        assert self.json_out is not None
        self.json_out.write(("" if self._first else ",\n") + json.dumps(ev))
        self._first = False

    def _slice(self, track: str, tid: int, us: float, begin: bool, name: str) -> None:
        if begin:
            self._open[track] = int(us)
            return
        start = self._open.pop(track, None)
        if start is not None:
            self._json({"ph": "X", "name": name, "pid": self.task[1], "tid": tid,
                        "ts": start, "dur": max(int(us) - start, 0)})

    def _counter(self, us: float, name: str, value: int) -> None:
        self._json({"ph": "C", "name": name, "pid": self.task[1], "ts": int(us),
                    "args": {name: value}})

    def _chrome(self, us: float, event: str, msg: str) -> None:
        pid = self.task[1]
        if event == "sched_switch":
            self._slice("writer", pid, us, "prev_state=S" in msg, "writer asleep")
        elif event in ("irq_handler_entry", "irq_handler_exit"):
            self._slice("hardirq", HARDIRQ_TID, us, event.endswith("entry"),
                        msg.split(" ")[0].replace("irq=", "irq ") + " top half")
        elif event in ("softirq_entry", "softirq_exit"):
            self._slice("softirq", SOFTIRQ_TID, us, event.endswith("entry"), "tasklet")
        elif event == "hwptr":
            m = _HWPTR.match(msg)
            if m:
                self._counter(us, "hw_ptr", int(m[1]) + int(m[2]))
        elif event == "applptr":
            m = _APPLPTR.match(msg)
            if m:
                self._counter(us, "appl_ptr", int(m[1]))
                self._counter(us, "avail", int(m[2]))
        elif event == "i2s_dma_request":
            m = _LEVEL.match(msg)
            if m:
                self._counter(us, "i2s_fifo_bytes", int(m[1]))
        if event in INSTANTS:
            self._json({"ph": "i", "name": event, "pid": pid, "tid": pid, "ts": int(us),
                        "s": "p", "args": {"what": msg}})
