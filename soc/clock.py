"""Hardware time: the virtual clock, a discrete-event scheduler in nanoseconds.

Counterpart: none in the kernel; this is the simulator's notion of time. Every piece of
hardware is an *agent* that can say when its next event is (``next_event_ns``) and can
move itself, in one vectorised step, to any time before that (``advance_to``). The
clock finds the earliest of all agent events and scheduled callbacks, moves every agent
there, runs what is due, and repeats. Nothing moves between events, so a whole period
of audio or a whole LLI is one numpy slice.

Frames and nanoseconds convert from absolute counts (``ns_at_frame``/``frame_at_ns``)
with integer arithmetic, so no rounding error accumulates however long a stream runs.
"""

from __future__ import annotations

import _thread
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

NSEC_PER_SEC: Final = 1_000_000_000
HZ: Final = 250  # the timer tick: ``jiffies`` counts it


def jiffies(now_ns: int) -> int:
    """``jiffies`` at the clock's time ``now_ns``."""
    return now_ns * HZ // NSEC_PER_SEC



def ns_at_frame(frame: int, rate: int) -> int:
    """The first nanosecond at which ``frame`` frames have elapsed at ``rate``."""
    return -(-frame * NSEC_PER_SEC // rate)


def frame_at_ns(t_ns: int, rate: int) -> int:
    """Whole frames elapsed at ``rate`` by time ``t_ns``."""
    return t_ns * rate // NSEC_PER_SEC


class SpinLock:
    """``spinlock_t``: a re-entrant lock, or nothing at all on a uniprocessor.

    With ``smp`` False (what :meth:`VirtualClock.spinlock` gives on a uniprocessor virtual
    clock, where the main thread alone runs the model) taking it does nothing, as on a
    kernel built without CONFIG_SMP.
    """

    def __init__(self, smp: bool = True) -> None:
        self._lock: Any = threading.RLock() if smp else None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True if self._lock is None else bool(self._lock.acquire(blocking, timeout))

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> SpinLock:
        if self._lock is not None:
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()


class HwLock:
    """The hardware lock, shared by the bus and the clock's step.

    Held while the hardware moves and for every bus access, so a CPU-side register access
    never sees the hardware half-way through a step. It is re-entrant, knows whether this
    thread holds it, and runs what :meth:`after_release` queued once its outermost release
    is done, outside the lock: where an interrupt raised inside the hardware is delivered,
    as ``local_irq_restore`` delivers a pending one.
    Locking: with ``smp`` False (a uniprocessor virtual clock) only the depth is kept.
    """

    def __init__(self, smp: bool = True) -> None:
        self._lock: Any = _thread.RLock() if smp else None
        self._depth = 0
        self._after: list[Callable[[], None]] = []

    def acquire(self) -> bool:
        if self._lock is not None:
            self._lock.acquire()
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> HwLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self._after and not self.held_here():  # that was the outermost hold
            self.acquire()  # take the queue whole, so each entry runs once
            after, self._after = self._after, []
            self.release()
            for fn in after:
                fn()

    def after_release(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` (once, however often asked) when the holder lets go; call it with
        the lock held."""
        if fn not in self._after:
            self._after.append(fn)

    def held_here(self) -> bool:
        if self._lock is None:
            return self._depth > 0
        return bool(self._lock._is_owned())


class Agent(Protocol):
    """A piece of hardware that advances with the clock."""

    def next_event_ns(self) -> int | None: ...

    def advance_to(self, t_ns: int) -> None: ...


class Event:
    """A scheduled call; the clock's heap orders it by (at_ns, seq)."""

    def __init__(self, at_ns: int, seq: int, fn: Callable[[], None]) -> None:
        self.at_ns = at_ns
        self.seq = seq
        self.fn = fn
        self.cancelled = False


class VirtualClock:
    """Deterministic time that runs as fast as the host allows.

    A blocking call does not sleep: it calls :meth:`run_until_true` with its wake-up
    condition, which runs the hardware forward until the condition holds.

    Parameters
    ----------
    smp:
        False (the default): a uniprocessor, where the main thread alone runs the model
        and :meth:`spinlock` and the hardware lock take nothing, as on a CONFIG_SMP=n
        kernel. True: real locks, for a test that runs a second thread on this clock.
    """

    realtime = False
    # Brings the hardware to the present before a CPU-side register write (the bus
    # calls it). Nothing to do here: the hardware only moves when the clock is run.
    present: Callable[[], None] | None = None

    def __init__(self, smp: bool = False) -> None:
        self.smp = smp or self.realtime
        self.now_ns = 0
        self.agents: list[Agent] = []
        self._queue: list[tuple[int, int, Event]] = []  # (at_ns, seq, event): a heap
        self._seq = itertools.count()
        self.hw_lock = HwLock(self.smp)

    def spinlock(self) -> SpinLock:
        """``spin_lock_init``: a lock that takes nothing on a uniprocessor clock."""
        return SpinLock(self.smp)

    # -- scheduling --

    def add_agent(self, agent: Agent) -> None:
        self.agents.append(agent)

    def schedule(self, at_ns: int, fn: Callable[[], None]) -> Event:
        ev = Event(max(at_ns, self.now_ns), next(self._seq), fn)
        heapq.heappush(self._queue, (ev.at_ns, ev.seq, ev))
        return ev

    def call_later(self, delay_ns: int, fn: Callable[[], None]) -> Event:
        return self.schedule(self.now_ns + delay_ns, fn)

    @staticmethod
    def cancel(ev: Event) -> None:
        ev.cancelled = True

    # -- running --

    def next_event_ns(self) -> int | None:
        """When the next event falls due: the earliest agent event or scheduled call."""
        with self.hw_lock:
            return self._next_event_locked()

    def _next_event_locked(self) -> int | None:
        queue = self._queue
        while queue and queue[0][2].cancelled:
            heapq.heappop(queue)
        best = queue[0][0] if queue else None
        for agent in self.agents:
            t = agent.next_event_ns()
            if t is not None and (best is None or t < best):
                best = t
        return None if best is None else max(best, self.now_ns)

    def _run_due(self) -> None:
        while self._queue and self._queue[0][0] <= self.now_ns:
            ev = heapq.heappop(self._queue)[2]
            if not ev.cancelled:
                ev.fn()

    def _step(self, limit_ns: int, idle_stops: bool = False) -> bool | None:
        """Find the next event, move every agent to it (or to ``limit_ns`` when it comes
        later) in one hold of the hardware lock, then run what is due. True when an event
        was reached; None, without moving, when ``idle_stops`` and nothing is left."""
        with self.hw_lock:
            t = self._next_event_locked()
            if t is None and idle_stops:
                return None
            reached = t is not None and t <= limit_ns
            to = t if t is not None and reached else max(limit_ns, self.now_ns)
            self.now_ns = to
            for agent in self.agents:
                agent.advance_to(to)
        self._run_due()  # the interrupts raised in the step were delivered on release
        return reached

    def run_short_of_event(self, limit_ns: int) -> int | None:
        """Move every agent towards ``limit_ns`` but stop short of the next event, so that
        nothing falls due and no interrupt is raised: a step that only moves data.
        Returns when the next event falls due (None: no event is coming)."""
        with self.hw_lock:
            t = self._next_event_locked()
            to = limit_ns if t is None or t > limit_ns else t - 1
            if to > self.now_ns:
                self.now_ns = to
                for agent in self.agents:
                    agent.advance_to(to)
        return t

    def step(self, limit_ns: int) -> bool:
        """Move to the next event no later than ``limit_ns`` and handle it.

        Returns False when nothing happens before ``limit_ns`` (time then stands at
        ``limit_ns``).
        """
        return bool(self._step(limit_ns))

    def run_until(self, t_ns: int) -> None:
        """Run every event up to and including ``t_ns``; time ends at ``t_ns``."""
        while self._step(t_ns):
            pass

    def run_for(self, delay_ns: int) -> None:
        self.run_until(self.now_ns + delay_ns)

    def run_until_true(self, cond: Callable[[], bool], timeout_ns: int) -> bool:
        """Run until ``cond()`` holds; False on timeout or when nothing is left to run."""
        deadline = self.now_ns + timeout_ns
        while not cond():
            reached = self._step(deadline, idle_stops=True)
            if reached is None:
                return False
            if not reached:
                return cond()
        return True

    def wait_until(self, cond: Callable[[], bool], timeout_ns: int) -> bool:
        """How a CPU-side caller blocks: here, by running the hardware forward."""
        return self.run_until_true(cond, timeout_ns)

    def notify(self) -> None:
        """Wake the waiters (``wake_up``): nothing to do, a waiter here re-checks its
        condition after every step."""


class RealtimeClock(VirtualClock):
    """The same scheduler, advanced by a master in real time.

    The master is the sound card's stream callback (:meth:`advance_frames`, the card
    clock) or :class:`WallClock`'s timer thread. CPU-side code never moves time: it waits
    on a condition that every hardware step and every bottom half notifies.
    """

    realtime = True
    # How often a waiter re-checks its condition when nobody notifies: a safety net only,
    # since every step, every bottom half and every PCM state change that the kernel
    # follows with a wake_up notifies.
    poll_s = 0.05

    def __init__(self, speed: float = 1.0) -> None:
        super().__init__(smp=True)
        self.speed = speed  # hardware seconds a wall second (below 1: slow motion)
        self.cv = threading.Condition()
        self.error: BaseException | None = None  # a lost master (device error) lands here

    def advance_frames(self, total_frames: int, rate: int, origin_ns: int = 0) -> None:
        """The card clock: ``total_frames`` frames have elapsed since ``origin_ns``."""
        self.run_until(origin_ns + ns_at_frame(total_frames, rate))
        self.notify()

    def notify(self) -> None:
        with self.cv:
            self.cv.notify_all()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.notify()

    def wait_until(self, cond: Callable[[], bool], timeout_ns: int) -> bool:
        """Sleep until ``cond()`` holds; False on timeout. Raises the master's error."""
        deadline = time.monotonic() + timeout_ns / NSEC_PER_SEC / self.speed
        with self.cv:
            while not cond():
                if self.error is not None:
                    raise self.error
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(min(left, self.poll_s))
        return True


class WallClock:
    """A timer that paces a :class:`RealtimeClock` where there is no card."""

    def __init__(self, clock: RealtimeClock, tick_s: float = 0.002) -> None:
        self.clock = clock
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def start(self) -> None:
        speed = self.clock.speed
        origin = time.monotonic_ns() - int(self.clock.now_ns / speed)
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(self.tick_s):
                self.clock.run_until(int((time.monotonic_ns() - origin) * speed))
                self.clock.notify()

        self._timer = threading.Thread(target=run, name="wall-clock", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None
