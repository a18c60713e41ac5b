"""The clock's data-only step and where real-time bottom halves run (irq_exit or worker)."""

from __future__ import annotations

import threading
import time

import pytest

from soc.clock import RealtimeClock, VirtualClock
from soc.irq import MAX_SOFTIRQ_RESTART, RealtimeCpu, irq_exit, run_softirqs_here


class OneEvent:
    """An agent whose only event falls due at ``at_ns``; records how far it was moved."""

    def __init__(self, at_ns: int) -> None:
        self.at_ns, self.moved_to, self.fired = at_ns, 0, 0

    def next_event_ns(self) -> int | None:
        return self.at_ns if self.moved_to < self.at_ns else None

    def advance_to(self, t_ns: int) -> None:
        if self.moved_to < self.at_ns <= t_ns:
            self.fired += 1
        self.moved_to = t_ns


def test_run_short_of_event_moves_the_data_and_stops_one_ns_before_the_event():
    clock = VirtualClock()
    agent = OneEvent(1000)
    clock.add_agent(agent)
    assert clock.run_short_of_event(400) == 1000
    assert (clock.now_ns, agent.moved_to) == (400, 400)
    assert clock.run_short_of_event(5000) == 1000
    assert (clock.now_ns, agent.moved_to, agent.fired) == (999, 999, 0)
    clock.run_until(1000)
    assert agent.fired == 1


def test_run_short_of_event_does_not_run_a_scheduled_call_or_go_back():
    clock = VirtualClock()
    calls: list[int] = []
    clock.schedule(300, lambda: calls.append(clock.now_ns))
    assert clock.run_short_of_event(1000) == 300
    assert (clock.now_ns, calls) == (299, [])
    assert clock.run_short_of_event(100) == 300  # behind now: nothing moves
    assert clock.now_ns == 299
    clock.run_until(300)
    assert calls == [300]


def _on_thread(fn, name: str = "irq-cpu") -> None:
    t = threading.Thread(target=fn, name=name)
    t.start()
    t.join(5)


def _wait_for(cond, timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.005)
    return cond()


@pytest.fixture
def cpu():
    """A real-time CPU (its bottom-half worker running), shut down after the test."""
    cpu = RealtimeCpu(RealtimeClock())
    yield cpu
    cpu.shutdown()


def test_a_thread_that_asked_runs_its_bottom_halves_itself_at_irq_exit(cpu):
    ran: list[str] = []
    before_exit: list[list[str]] = []

    def interrupted_cpu() -> None:
        run_softirqs_here()
        cpu.defer(lambda: ran.append(threading.current_thread().name))
        before_exit.append(list(ran))
        irq_exit()

    _on_thread(interrupted_cpu)
    assert before_exit == [[]]  # raised in the top half, run only at irq_exit
    assert ran == ["irq-cpu"]
    assert cpu.runs == {"irq_exit": 1, "worker": 0}


def test_with_injected_latency_or_from_another_thread_the_worker_runs_them(cpu):
    ran: list[str] = []

    def record() -> None:
        ran.append(threading.current_thread().name)

    def latency() -> None:
        run_softirqs_here()
        cpu.bh_latency_ns = 1_000_000
        cpu.defer(record)
        irq_exit()

    _on_thread(latency)
    cpu.bh_latency_ns = 0
    cpu.defer(record)  # this thread never asked
    assert _wait_for(lambda: len(ran) == 2)
    assert ran == ["cpu-bh", "cpu-bh"]
    assert cpu.runs == {"irq_exit": 0, "worker": 2}


def test_a_cancelled_bottom_half_does_not_run_at_irq_exit(cpu):
    ran: list[int] = []

    def killed_before_exit() -> None:
        run_softirqs_here()
        cpu.cancel(cpu.defer(lambda: ran.append(1)))
        irq_exit()

    _on_thread(killed_before_exit)
    assert ran == [] and cpu.runs == {"irq_exit": 0, "worker": 0}


def test_bottom_halves_that_keep_raising_more_go_to_the_worker_after_the_restarts(cpu):
    where: list[str] = []

    def again() -> None:
        where.append(threading.current_thread().name)
        if len(where) < MAX_SOFTIRQ_RESTART + 5:
            cpu.defer(again)

    def storm() -> None:
        run_softirqs_here()
        cpu.defer(again)
        irq_exit()

    _on_thread(storm)
    assert _wait_for(lambda: len(where) == MAX_SOFTIRQ_RESTART + 5)
    assert where[:MAX_SOFTIRQ_RESTART] == ["irq-cpu"] * MAX_SOFTIRQ_RESTART
    assert set(where[MAX_SOFTIRQ_RESTART:]) == {"cpu-bh"}
    assert cpu.runs == {"irq_exit": MAX_SOFTIRQ_RESTART, "worker": 5}


@pytest.mark.parametrize("smp", [False, True])
def test_a_uniprocessor_clock_takes_no_lock_but_keeps_the_hardware_locks_depth(smp):
    """CONFIG_SMP=n: a spinlock held here does not keep another thread out (it is
    nothing); on an SMP clock it does. Either way the hardware lock knows it is held and
    runs what was queued for its release only when the outermost hold ends, as
    local_irq_restore delivers a pending interrupt."""
    clock = VirtualClock(smp=smp)
    lock = clock.spinlock()
    got: list[bool] = []
    with lock:
        _on_thread(lambda: got.append(lock.acquire(blocking=False)), "other-cpu")
    assert got == [not smp]
    ran: list[int] = []
    with clock.hw_lock:
        with clock.hw_lock:
            clock.hw_lock.after_release(lambda: ran.append(clock.hw_lock.held_here()))
            assert clock.hw_lock.held_here()
        assert ran == [] and clock.hw_lock.held_here()
    assert ran == [False] and not clock.hw_lock.held_here()
