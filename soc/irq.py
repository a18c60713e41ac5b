"""Interrupt lines and the CPU side that runs bottom halves.

Counterpart: kernel/irq (level-triggered lines, one handler each) and kernel/softirq.c
(tasklets run at ``irq_exit`` or by ksoftirqd). Details: docs/design-notes.md.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from soc.clock import Event, VirtualClock

IrqHandler = Callable[[int], None]


@dataclass
class IrqAction:
    name: str
    handler: IrqHandler


class InterruptController:
    """Numbered level-triggered lines with enable, pending and per-line counts."""

    def __init__(self, clock: VirtualClock | None = None, nr_lines: int = 64) -> None:
        self.clock = clock
        self._deferred: set[int] = set()
        self.nr_lines = nr_lines
        self.actions: dict[int, IrqAction] = {}
        self.enabled = [False] * nr_lines
        self.asserted = [False] * nr_lines
        self.count = [0] * nr_lines
        self.lost = [0] * nr_lines
        self.lose: Callable[[int], bool] | None = None
        self._in_handler = [False] * nr_lines
        # trace hooks: fn(event, message) at irq_handler_entry and irq_handler_exit
        self.trace: list[Callable[[str, str], None]] = []

    def _check(self, line: int) -> None:
        if not 0 <= line < self.nr_lines:
            raise ValueError(f"no interrupt line {line} (0..{self.nr_lines - 1})")

    def request_irq(self, line: int, handler: IrqHandler, name: str) -> None:
        self._check(line)
        if line in self.actions:
            raise OSError(16, f"irq {line} already claimed by {self.actions[line].name}")
        self.actions[line] = IrqAction(name, handler)
        self.enabled[line] = True
        self._deliver(line)

    def free_irq(self, line: int) -> None:
        self.actions.pop(line, None)
        self.enabled[line] = False

    def enable_irq(self, line: int) -> None:
        self.enabled[line] = True
        self._deliver(line)

    def disable_irq(self, line: int) -> None:
        self.enabled[line] = False

    def set_level(self, line: int, asserted: bool) -> None:
        """The hardware drives the line; an enabled asserted line runs its handler."""
        self.asserted[line] = asserted
        if not asserted:
            return
        if self.clock is not None and self.clock.hw_lock.held_here():
            self._deferred.add(line)  # the top half runs when the hardware lets go
            self.clock.hw_lock.after_release(self.deliver_deferred)
        else:
            self._deliver(line)

    def deliver_deferred(self) -> None:
        while self._deferred:
            self._deliver(self._deferred.pop())

    def pending(self, line: int) -> bool:
        return self.asserted[line] and not self.enabled[line]

    def _deliver(self, line: int) -> None:
        action = self.actions.get(line)
        if action is None or self._in_handler[line]:
            return
        self._in_handler[line] = True
        try:
            spins = 0
            while self.asserted[line] and self.enabled[line]:
                if self.lose is not None and self.lose(line):
                    self.lost[line] += 1
                    return
                self.count[line] += 1
                if self.trace:
                    for hook in self.trace:
                        hook("irq_handler_entry", f"irq={line} name={action.name}")
                action.handler(line)
                if self.trace:
                    for hook in self.trace:
                        hook("irq_handler_exit", f"irq={line} ret=handled")
                spins += 1
                if spins > 1000:
                    raise RuntimeError(f"irq {line} ({action.name}): handler does not clear")
        finally:
            self._in_handler[line] = False


class Cpu:
    """Where bottom halves run: an event on the virtual clock, after a latency.

    ``bh_latency_ns`` is injected interrupt-to-bottom-half latency: raise it above a
    period and several period interrupts reach one tasklet run (coalesced callbacks).
    """

    def __init__(self, clock: VirtualClock, bh_latency_ns: int = 0) -> None:
        self.clock = clock
        self.bh_latency_ns = bh_latency_ns
        # trace hooks: fn(event, message) at softirq_entry and softirq_exit
        self.trace: list[Callable[[str, str], None]] = []

    def defer(self, fn: Callable[[], None]) -> Event:
        if self.trace:
            return self.clock.call_later(self.bh_latency_ns, functools.partial(
                run_traced_softirq, self.trace, fn))
        return self.clock.call_later(self.bh_latency_ns, fn)

    def cancel(self, handle: Event) -> None:
        self.clock.cancel(handle)


@dataclass(order=True)
class _Work:
    due: float
    seq: int
    fn: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


def run_traced_softirq(trace: list[Callable[[str, str], None]], fn: Callable[[], None]) -> None:
    """A bottom half between softirq_entry and softirq_exit (the tasklet's vector)."""
    for hook in trace:
        hook("softirq_entry", "vec=6 [action=TASKLET]")
    try:
        fn()
    finally:
        for hook in trace:
            hook("softirq_exit", "vec=6 [action=TASKLET]")


MAX_SOFTIRQ_RESTART = 10  # rounds irq_exit runs before it leaves the rest to the worker

_this_cpu = threading.local()  # .pending: bottom halves this thread runs at irq_exit


def run_softirqs_here() -> None:
    """The calling thread runs the bottom halves its interrupts raise itself, at
    :func:`irq_exit`, when no latency is injected; one thread wake-up a period fewer."""
    _this_cpu.pending = []


def irq_exit() -> None:
    """``irq_exit`` -> ``invoke_softirq``: run the bottom halves raised on this thread;
    those they raise run too, for up to ``MAX_SOFTIRQ_RESTART`` rounds, and then the
    worker thread takes the rest, as ``__do_softirq`` wakes ksoftirqd."""
    for _ in range(MAX_SOFTIRQ_RESTART):
        pending = getattr(_this_cpu, "pending", None)
        if not pending:
            return
        _this_cpu.pending = []
        for cpu, work in pending:
            cpu.execute(work, "irq_exit")
    for cpu, work in _this_cpu.pending:
        cpu.queue(work)
    _this_cpu.pending = []


class RealtimeCpu:
    """Bottom halves on a worker thread, ``bh_latency_ns`` after they were raised (or
    inline at :func:`irq_exit` on a thread that asked, when the latency is zero).

    After each one it notifies the clock, so a writer waiting for room wakes up.
    """

    def __init__(self, clock: Any, bh_latency_ns: int = 0) -> None:
        self.clock = clock
        self.bh_latency_ns = bh_latency_ns
        self._heap: list[_Work] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self.error: BaseException | None = None
        self.runs = {"irq_exit": 0, "worker": 0}  # bottom halves run where (/proc/softirqs)
        self.trace: list[Callable[[str, str], None]] = []  # as Cpu.trace
        self._worker = threading.Thread(target=self._run, name="cpu-bh", daemon=True)
        self._worker.start()

    def defer(self, fn: Callable[[], None]) -> _Work:
        speed = getattr(self.clock, "speed", 1.0)  # hardware time runs slow in slow motion
        work = _Work(time.monotonic() + self.bh_latency_ns / 1e9 / speed, next(self._seq),
                     fn)
        pending = getattr(_this_cpu, "pending", None)
        if pending is not None and not self.bh_latency_ns:
            pending.append((self, work))
        else:
            self.queue(work)
        return work

    def queue(self, work: _Work) -> None:
        with self._cv:
            heapq.heappush(self._heap, work)
            self._cv.notify()

    def execute(self, work: _Work, where: str) -> None:
        """Run one bottom half (unless cancelled), then wake the clock's waiters."""
        if work.cancelled:
            return
        self.runs[where] += 1
        try:
            if self.trace:
                run_traced_softirq(self.trace, work.fn)
            else:
                work.fn()
        except BaseException as e:  # a bottom half must not kill the CPU silently
            self.error = e
            self.clock.fail(e)
        self.clock.notify()

    def cancel(self, handle: _Work) -> None:
        handle.cancelled = True

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and (not self._heap or self._heap[0].due > time.monotonic()):
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cv.wait(wait)
                if self._stop:
                    return
                work = heapq.heappop(self._heap)
            self.execute(work, "worker")

    def shutdown(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        if threading.current_thread() is not self._worker:
            self._worker.join()
