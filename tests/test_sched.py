"""``--rt-priority``: the application's threads at SCHED_FIFO, given back after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from demos import jack
from demos.sched import fifo_priority
from demos.usage import UsageError
from tests.servers import ROOT


def _policy(tid: int = 0) -> tuple[int, int]:
    return os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority


def test_the_block_runs_fifo_its_threads_inherit_it_and_the_policy_comes_back():
    before = _policy()
    if not jack.realtime_allowed():
        with pytest.raises(UsageError, match="SCHED_FIFO is not allowed here"):
            with fifo_priority(4):
                pass
        assert _policy() == before
        return
    seen: list[tuple[int, int]] = []
    with fifo_priority(4):
        assert _policy() == (os.SCHED_FIFO, 4)
        t = threading.Thread(target=lambda: seen.append(_policy()))
        t.start()
        t.join()
    assert seen == [(os.SCHED_FIFO, 4)]  # as the card pacer and the bottom-half worker
    assert _policy() == before


def test_priorities_out_of_range_are_refused_and_none_changes_nothing():
    before = _policy()
    with pytest.raises(UsageError, match="--rt-priority 100: SCHED_FIFO priorities are 1 to 99"):
        with fifo_priority(100):
            pass
    with fifo_priority(None):
        assert _policy() == before


@pytest.mark.parametrize("command", [["play"], ["capture", "/dev/null", "-d", "1"],
                                     ["loopback"], ["stress", "--duration", "1"]])
def test_a_refused_rt_priority_is_one_line_and_exit_2(command):
    """Without CAP_SYS_NICE (setpriv drops it) and with RLIMIT_RTPRIO 0 (prlimit sets it,
    whatever the caller's was) the kernel says EPERM."""
    if shutil.which("setpriv") is None or shutil.which("prlimit") is None:
        pytest.skip("setpriv or prlimit (util-linux) is not installed")
    cmd = ["prlimit", "--rtprio=0:0", "setpriv", "--bounding-set=-sys_nice",
           "--inh-caps=-sys_nice", sys.executable, "-m", "demos.cli", *command,
           "--rt-priority", "4", "-D", "virtual", "--clock", "virtual", "--no-progress"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert err == ["--rt-priority 4: SCHED_FIFO is not allowed here (EPERM: it needs root, "
                   "CAP_SYS_NICE or an RLIMIT_RTPRIO that high)"]


def test_hogs_compete_at_normal_priority_under_an_rt_priority():
    from demos.hogs import Hogs

    if not jack.realtime_allowed():
        pytest.skip("SCHED_FIFO is not allowed here")
    hogs = Hogs(1, hold_items=10)
    with fifo_priority(4):
        hogs.start()
    try:
        t = hogs._threads[0]
        for _ in range(100):  # the thread sets its policy as it starts
            if os.sched_getscheduler(t.native_id) == os.SCHED_OTHER:
                break
            time.sleep(0.01)
        assert _policy(t.native_id) == (os.SCHED_OTHER, 0)
    finally:
        hogs.stop()


@pytest.mark.parametrize("command, module, fn", [
    (["loopback", "--seconds", "0.5"], "demos.loopback", "loopback"),
    (["stress", "--duration", "1"], "demos.stress_cmd", "stress_command")])
def test_loopback_and_stress_run_at_the_rt_priority_and_give_it_back(command, module, fn,
                                                                      monkeypatch, capsys):
    import importlib

    from demos.cli import main

    if not jack.realtime_allowed():
        pytest.skip("SCHED_FIFO is not allowed here")
    mod = importlib.import_module(module)
    inner, seen = getattr(mod, fn), []

    def spy(*args, **kw):  # the command's work, with the policy it runs at noted
        seen.append(_policy())
        return inner(*args, **kw)

    monkeypatch.setattr(mod, fn, spy)
    before = _policy()
    assert main([*command, "--rt-priority", "4", "-D", "virtual", "--clock", "virtual",
                 "--no-progress"]) == 0
    assert seen == [(os.SCHED_FIFO, 4)]
    assert _policy() == before
