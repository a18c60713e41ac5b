"""The private JACK server: real-time where the machine allows it, as JACK runs."""

from __future__ import annotations

import os

from demos import jack
from tests.servers import _unavailable


def _fifo_threads(pid: int) -> int:
    return sum(os.sched_getscheduler(int(tid)) == os.SCHED_FIFO
               for tid in os.listdir(f"/proc/{pid}/task"))


def test_jack_server_runs_real_time_where_the_machine_allows_it():
    if jack.jack_missing():
        _unavailable(jack.jack_missing())
    with jack.JackServer("dmaaudio-rt-probe") as server:
        assert server.realtime == jack.realtime_allowed()
        fifo = _fifo_threads(server.proc.pid)
    assert (fifo > 0) == server.realtime  # the cycle's thread is SCHED_FIFO
    with jack.JackServer("dmaaudio-rt-probe", realtime=False) as server:
        assert _fifo_threads(server.proc.pid) == 0
