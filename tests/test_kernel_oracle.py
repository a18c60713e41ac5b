"""The PCM core against Linux: Debian's kernel booted in QEMU runs the scenarios of
tests/oracle through raw ioctls on snd-dummy and snd-aloop; the model runs them on its own
PCM on the virtual clock, each step at the guest's time (docs/testing.md, "The kernel
oracle"). One boot per session holds the fixed set and the generated scenarios
(``ORACLE_GENERATED``, default 1000; ``ORACLE_SEED``, default 0). Without QEMU or the
packages this is skipped with the reason, and fails under CI.

The comparator's own tests run without a guest: the model's records stand in for the
guest's, altered where the comparator must object.
"""

from __future__ import annotations

import copy
import errno
import os

import pytest

from tests.oracle import compare as cmp
from tests.oracle import model
from tests.oracle.guest import GuestUnavailable
from tests.oracle.scenarios import FIXED, Scenario, generated, to_text
from tests.servers import _unavailable

GENERATED = int(os.environ.get("ORACLE_GENERATED", "1000"))
SEED = int(os.environ.get("ORACLE_SEED", "0"))


@pytest.fixture(scope="session")
def oracle():
    from tests.oracle.report import run

    try:
        report = run(GENERATED, SEED)
    except GuestUnavailable as e:
        _unavailable(f"kernel oracle: {e}")
    print("\n" + report.table())
    return report


def test_the_pcm_core_answers_as_linux_does(oracle):
    d = oracle.as_dict()
    assert d["generated"] >= 200 and d["fixed"] == len(FIXED)
    assert d["scenarios"] == len(FIXED) + GENERATED
    bad = [f for f in oracle.findings if f.kind in ("mismatch", "invariant")]
    assert not bad, oracle.table()
    # the comparison has teeth: nearly every step compared, few scenarios cut short
    assert d["compared"] >= 0.9 * d["steps"], oracle.table()
    assert d["diverged"] <= 0.1 * d["scenarios"], oracle.table()
    assert not d["skipped"], f"the guest cut these short: {d['skipped']}"


def test_the_fixed_set_is_compared_to_its_last_step(oracle):
    """Each hand-written scenario: every step compared, or stopped only by a named
    6.1-vs-mainline difference."""
    for r in oracle.results:
        if r.scenario in {sc.name for sc in FIXED}:
            stops = [f.kind for f in r.findings]
            assert r.compared == r.steps or stops == ["known"], (r.scenario, r.findings)


def _self(sc: Scenario) -> tuple[list[dict], list[int]]:
    """The model's records of ``sc`` at a steady pace, to stand in for a guest's."""
    times, t = [], 0
    for step in (("open",),) + sc.steps:
        t += 200_000 + (step[1] * 1000 if step[0] == "sleep" else 0)
        times.append(t)
    recs = model.run(sc, times)
    for r, t in zip(recs, times, strict=False):
        r["t"] = t  # as a guest's: when the step ended
    return recs, times


UNDERRUN = next(sc for sc in FIXED if sc.name == "underrun")


def test_the_model_agrees_with_itself():
    for sc in FIXED:
        recs, _ = _self(sc)
        res = cmp.compare(sc, recs)
        assert [f for f in res.findings if f.kind != "known"] == [], sc.name
        assert res.compared == len(recs)


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("state", 1, "mismatch"),  # a state the model did not reach
    ("err", errno.EBADFD, "mismatch"),  # an errno the model did not give
])
def test_a_different_state_or_errno_is_a_mismatch(field, value, kind):
    recs, _ = _self(UNDERRUN)
    at = next(i for i, r in enumerate(recs) if r["op"] == "prepare")
    recs[at][field] = value
    res = cmp.compare(UNDERRUN, recs)
    assert [(f.step, f.kind) for f in res.findings] == [(at, kind)]


def test_an_xrun_below_the_stop_threshold_breaks_the_invariant():
    recs, _ = _self(UNDERRUN)
    at = next(i for i, r in enumerate(recs) if r["state"] == cmp.XRUN)
    bad = copy.deepcopy(recs)
    bad[at]["hw"] = bad[at]["appl"] - 100  # avail 3996 < 4096
    found = cmp.invariants(UNDERRUN, bad, "guest")
    assert any("XRUN with avail" in f.detail for f in found)


def test_a_pointer_that_goes_back_or_runs_ahead_breaks_the_invariant():
    sc = next(sc for sc in FIXED if sc.name == "stop_boundary")
    recs, _ = _self(sc)
    moving = [i for i, r in enumerate(recs) if r["state"] == cmp.RUNNING]
    a, b = moving[-2], moving[-1]
    back = copy.deepcopy(recs)
    back[b]["hw"] = back[a]["hw"] - 1
    assert any("went back" in f.detail for f in cmp.invariants(sc, back, "guest"))
    ahead = copy.deepcopy(recs)
    ahead[b]["hw"] = ahead[b]["hw"] + 48000  # a second's worth more than the time allows
    assert any("frames in the" in f.detail for f in cmp.invariants(sc, ahead, "guest"))


def test_a_transfer_that_moves_appl_ptr_by_other_than_it_returned_is_caught():
    recs, _ = _self(UNDERRUN)
    at = next(i for i, r in enumerate(recs) if r["op"] == "write" and r["ret"] > 0)
    recs[at]["ret"] -= 1
    assert any("appl_ptr moved" in f.detail
               for f in cmp.invariants(UNDERRUN, recs, "guest"))


def test_generated_scenarios_are_reproducible_and_stay_in_the_common_space():
    """The same seed gives the same scenarios in another process with other modules loaded
    (the CI run's are the ones a developer's machine gives), and each stays in the space
    both sides accept."""
    import subprocess
    import sys

    a, b = generated(50, 7), generated(50, 7)
    assert a == b and len(a) == 50
    assert generated(60, 7)[:50] == a and generated(50, 8) != a
    other = subprocess.run(
        [sys.executable, "-c", "import numpy, scipy.signal, hypothesis; "
         "from tests.oracle.scenarios import generated, to_text; "
         "print(to_text(generated(50, 7)), end='')"],
        capture_output=True, text=True, timeout=60, check=True)
    assert other.stdout == to_text(a)
    for sc in a:
        hw = sc.steps[0]
        assert hw[0] == "hw" and hw[1:4] == ("S16_LE", 2, hw[3]) and hw[5] <= 16384
        assert hw[5] % hw[4] == 0 and 2 <= hw[5] // hw[4] <= 8
        assert sc.steps[-1] == ("close",)
        if sc.card == "dummy":
            assert all(s[0] != "pause" for s in sc.steps)  # snd-dummy cannot pause
    text = to_text(a)
    assert text.count("\nE\n") + text.startswith("E\n") == 50


def test_while_the_stream_moves_an_errno_the_pointers_cannot_explain_is_a_mismatch():
    """Timing excuses only outcomes that pointers decide (EAGAIN, EPIPE, a count; RUNNING,
    XRUN, DRAINING, SETUP): an EBUSY, or a PREPARED, where the model says otherwise is
    still a mismatch."""
    recs, _ = _self(UNDERRUN)
    at = next(i for i, r in enumerate(recs) if r["op"] == "write" and r["state"] == cmp.RUNNING)
    for field, value in (("err", errno.EBUSY), ("state", 2)):
        bad = copy.deepcopy(recs)
        bad[at][field] = value
        res = cmp.compare(UNDERRUN, bad)
        assert [(f.step, f.kind) for f in res.findings] == [(at, "mismatch")], field


def test_a_prepare_refused_busy_as_the_drain_ends_is_a_divergence_not_a_mismatch():
    """The guest's drain still ran at its prepare (EBUSY) and ended before the status read
    after it (SETUP); the model's had ended before its prepare (ok, PREPARED). An errno
    that no running stream gives there (EBADFD) is still a mismatch."""
    sc = Scenario("drain_then_prepare", "dummy", "p", True, (
        ("hw", "S16_LE", 2, 48000, 1024, 4096), ("sw", 1024, 4096, 4096, 0, 0),
        ("prepare",), ("write", 4096), ("drain",), ("prepare",)))
    recs, _ = _self(sc)
    at = len(recs) - 1
    recs[at - 1]["t"] += 200_000_000  # the prepare acts after the ring (85 ms) has played
    mine = model.run(sc, [r["t"] for r in recs])
    assert mine[at - 1]["state"] == cmp.DRAINING and mine[at]["state"] == cmp.PREPARED
    assert recs[at - 1]["state"] == cmp.DRAINING
    late = copy.deepcopy(recs)
    late[at].update(err=errno.EBUSY, ret=-errno.EBUSY, state=cmp.SETUP, hw=4096)
    assert [(f.step, f.kind) for f in cmp.compare(sc, late).findings] == [(at, "diverged")]
    badfd = copy.deepcopy(late)
    badfd[at].update(err=errno.EBADFD, ret=-errno.EBADFD)
    assert [(f.step, f.kind) for f in cmp.compare(sc, badfd).findings] == [(at, "mismatch")]


def test_recheck_holds_a_reports_records_against_the_model_again(tmp_path, capsys):
    """``python -m tests.oracle --recheck`` compares a report's stored guest records anew:
    they pass as they are, and a state the model never reaches is a mismatch (exit 1)."""
    import json

    from tests.oracle.__main__ import main

    recs, _ = _self(UNDERRUN)
    trace = {"scenario": [UNDERRUN.card, UNDERRUN.stream, UNDERRUN.nonblock,
                          [list(s) for s in UNDERRUN.steps]], "guest": recs}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"traces": {"underrun": trace}}))
    assert main(["--recheck", str(path)]) == 0
    at = next(i for i, r in enumerate(recs) if r["op"] == "prepare")
    recs[at]["state"] = 1
    path.write_text(json.dumps({"traces": {"underrun": trace}}))
    assert main(["--recheck", str(path)]) == 1
    assert "rechecked 1 scenarios: 1 mismatches" in capsys.readouterr().out
