"""The comparison: states and errnos exactly, pointers by their invariants.

Per step, the guest's record and the model's must agree on the errno (or success) and on
the state after the step; while the stream has not moved, on the return and appl_ptr
too. Once it moves, the guest's timers (TCG's lateness, snd-aloop's jiffies) and the
model's DMA (a FIFO and a burst ahead of the wire) put the pointers a few milliseconds
apart, and a step near a threshold can land either side of it:

- the model is run again with that step moved by the tolerance either way; where one of
  those runs agrees up to that step, the step counts as "timing" and the comparison goes
  on with that run (so too where both end in XRUN, one having copied before finding it);
- where both outcomes are ones the pointers decide (EAGAIN or a count, RUNNING or XRUN,
  DRAINING or SETUP), or one side's stream had stopped by itself (an xrun, a drain's end)
  where the other's still ran, the scenario has "diverged" and the rest is not compared.

Anything else is a mismatch, unless :data:`KNOWN` names it as a behaviour of the guest's
6.1 kernel that mainline has since changed (the model follows mainline).

Each side is also held to the invariants of its own pointers: hw_ptr never goes back
within a run, never runs ahead of the rate and, read by an update within a ring's time of
the start, never lags it by more than the tolerance; an xrun exactly when avail reaches
stop_threshold (RUNNING below it after an update that moved hw_ptr, XRUN at or above);
avail, delay and status consistent with the pointers; appl_ptr moved by exactly what a
transfer returned.
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field

from pcm.runtime import PcmState, compute_boundary
from tests.oracle import model
from tests.oracle.scenarios import BOUNDARY, Scenario

# the records carry SNDRV_PCM_STATE_* numbers, which PcmState's values are
SETUP, PREPARED, RUNNING, XRUN, DRAINING, PAUSED = (
    PcmState.SETUP, PcmState.PREPARED, PcmState.RUNNING, PcmState.XRUN, PcmState.DRAINING,
    PcmState.PAUSED)
MOVING = (RUNNING, DRAINING)
SYNCING = ("status", "hwsync", "avail", "delay")  # ops that end in a hw_ptr update
MAX_TIMING_STEPS = 4
GRANULARITY_MS = {"dummy": 3.0, "aloop": 6.0}  # the guest's timer and TCG's lateness
# how far a pointer may stand from the time since the start: snd-aloop counts jiffies,
# which TCG delivers late and then in bursts (seen: 7.5 ms ahead of CLOCK_MONOTONIC)
RATE_SLACK_MS = {"dummy": 3.0, "aloop": 12.0}
MODEL_LEAD_FRAMES = 32  # the I2S FIFO and a burst the model's DMA runs ahead


def state_name(s: int) -> str:
    return "CLOSED" if s < 0 else PcmState(s).name


def err_name(rec: dict) -> str:
    e = rec["err"]
    return "ok" if not e else errno.errorcode.get(e, str(e))


@dataclass
class Known:
    """A difference of the guest's kernel from mainline, which the model follows."""

    name: str
    mainline: str  # the version and commit where mainline changed
    matches: Callable[[tuple, list[dict], list[dict], int], bool]  # (steps, guest, model, i)


def _after_pause_push_update(steps: tuple, guest: list[dict], mine: list[dict], i: int) -> bool:
    """The guest moved hw_ptr at a pause push (6.1's ``snd_pcm_do_pause`` updates it),
    and the difference comes while both sides are still paused."""
    pushed = [j for j in range(1, i) if steps[j][:2] == ("pause", 1) and not guest[j]["err"]
              and guest[j]["hw"] != guest[j - 1]["hw"]]
    return bool(pushed) and guest[i - 1]["state"] == mine[i - 1]["state"] == PAUSED


KNOWN: list[Known] = [
    Known("6.1 updates hw_ptr at a pause push; mainline reports the last update's position",
          "6.5: 'Revert \"ALSA: emu10k1 - delay the PCM interrupts (add pcm_irq_delay "
          "parameter)\"' (reverts 56385a12d9bb), which dropped the update from "
          "snd_pcm_do_pause", _after_pause_push_update),
]


@dataclass
class Finding:
    scenario: str
    step: int
    op: str
    kind: str  # "mismatch", "known", "invariant", "diverged"
    guest: str
    model: str
    detail: str = ""


@dataclass
class Result:
    scenario: str
    steps: int = 0
    compared: int = 0
    timing: int = 0
    findings: list[Finding] = field(default_factory=list)
    trace: dict = field(default_factory=dict)  # where there are findings: steps and records


def _summary(rec: dict) -> str:
    return (f"{err_name(rec)}({rec['ret']}) {state_name(rec['state'])} "
            f"hw={rec['hw']} appl={rec['appl']}")


class _Geometry:
    """What each side's records need to be checked: buffer, thresholds, rate."""

    def __init__(self) -> None:
        self.rate = 48000
        self.buffer = 0
        self.stop = 0
        self.boundary = 0

    def follow(self, step: tuple, rec: dict) -> None:
        if rec["err"]:
            return
        if step[0] == "hw":
            self.rate, self.buffer = step[3], rec.get("buffer", step[5])
            self.stop = self.buffer
            self.boundary = compute_boundary(self.buffer)
        elif step[0] == "sw":
            self.stop = self.boundary if step[3] == BOUNDARY else step[3]


def invariants(sc: Scenario, recs: list[dict], side: str) -> list[Finding]:
    """The pointer invariants of one side's records."""
    out: list[Finding] = []
    g = _Geometry()
    steps = (("open",),) + sc.steps
    prev = None
    run = (0, 0)  # (time, hw_ptr) at the latest start, no later than it
    started, steady = 0, False
    reset_xrun = False
    playback = sc.stream == "p"
    for rec in recs:
        step = steps[rec["i"]]
        g.follow(step, rec)
        op, st, hw, appl = step[0], rec["state"], rec["hw"], rec["appl"]
        reset_xrun = reset_xrun and st == XRUN

        def bad(what: str, rec=rec, op=op) -> None:
            out.append(Finding(sc.name, rec["i"], op, "invariant",
                               _summary(rec) if side == "guest" else "",
                               _summary(rec) if side == "model" else "", f"{side}: {what}"))
        if g.buffer and st in (RUNNING, XRUN):
            avail = (hw + g.buffer - appl) if playback else (hw - appl)
            # the update's verdict is fresh only where it moved hw_ptr: one that finds the
            # pointer where it was returns before checking the state (update_hw_ptr0)
            synced = (op in SYNCING and not rec["err"] and prev is not None
                      and hw != prev["hw"])
            if st == RUNNING and synced and avail >= g.stop:
                bad(f"RUNNING with avail {avail} >= stop_threshold {g.stop}")
            if st == XRUN and op == "reset":
                reset_xrun = True  # the reset's update found the xrun, then set appl = hw
            if st == XRUN and avail < g.stop and not reset_xrun:
                bad(f"XRUN with avail {avail} < stop_threshold {g.stop}")
        if st in MOVING and (prev is None or prev["state"] not in MOVING + (PAUSED,)):
            run = (prev["t"] if prev else 0, prev["hw"] if prev else 0)  # started here
            started, steady = rec["t"], True  # no later than this; no pause since
        elif op == "reset" and prev is not None and hw < prev["hw"]:
            run, steady = (run[0], run[1] - (prev["hw"] - hw)), False  # hw_ptr rebased
        elif prev is not None and prev["state"] in MOVING and st in MOVING + (XRUN, PAUSED) \
                and op not in ("prepare", "reset", "hw"):
            if hw < prev["hw"]:
                bad(f"hw_ptr went back from {prev['hw']} to {hw}")
            dt = (rec["t"] - run[0]) / 1e9
            slack = MODEL_LEAD_FRAMES + g.rate * RATE_SLACK_MS[sc.card] / 1e3
            if hw - run[1] > g.rate * dt * 1.02 + slack:
                bad(f"hw_ptr moved {hw - run[1]} frames in the {dt * 1e3:.2f} ms since "
                    f"the start at {g.rate} Hz")
            steady = steady and st == RUNNING
            least = (prev["t"] - started) / 1e9  # the op began after this much running
            if (steady and op in SYNCING and not rec["err"] and 0 < least < g.buffer / g.rate
                    and hw - run[1] < g.rate * least * 0.98 - slack):
                bad(f"hw_ptr moved only {hw - run[1]} frames in the {least * 1e3:.2f} ms "
                    f"since the start at {g.rate} Hz")
        if not rec["err"] and prev is not None and prev["state"] >= 0 and st >= 0:
            if op in ("write", "read", "forward") and appl != prev["appl"] + rec["ret"]:
                bad(f"{op} returned {rec['ret']} but appl_ptr moved {appl - prev['appl']}")
            if op == "avail" and g.buffer:
                want = (hw + g.buffer - appl) if playback else (hw - appl)
                if rec["ret"] != want:
                    bad(f"avail {rec['ret']} but the pointers give {want}")
            if op == "delay" and st == RUNNING:
                queued = (appl - hw) if playback else (hw - appl)
                # the model's DAI adds its FIFO (runtime->delay); the guest's timer may
                # move hw_ptr between the ioctl and the reading of the pointers
                gran = int(g.rate * GRANULARITY_MS[sc.card] / 1e3)
                low, high = (0, MODEL_LEAD_FRAMES * 4) if side == "model" else (-gran, gran)
                if not low <= rec["ret"] - queued <= high:
                    bad(f"delay {rec['ret']} but {queued} frames are queued")
            if op == "status" and "st_hw" in rec and rec["st_state"] == RUNNING and g.buffer:
                want = ((rec["st_hw"] + g.buffer - rec["st_appl"]) if playback
                        else rec["st_hw"] - rec["st_appl"])
                if rec["st_avail"] != want:
                    bad(f"status avail {rec['st_avail']} but its pointers give {want}")
        prev = rec
    return out


def _known(steps: tuple, guest: list[dict], mine: list[dict], i: int) -> Known | None:
    for kn in KNOWN:
        if kn.matches(steps, guest, mine, i):
            return kn
    return None


POINTER_STATES = {"RUNNING", "XRUN", "DRAINING", "SETUP", "PAUSED"}
POINTER_ERRS = {"ok", "EAGAIN", "EPIPE"}


def _pointer_dependent(k: dict, m: dict, k_before: int, m_before: int) -> bool:
    """Both outcomes are ones a moving stream reaches by where its pointers stand (how much
    is free or ready, whether the stop threshold or the drain's end has been passed): the
    same errno, or each one that the pointers decide (EBADFD where that side had already
    found its xrun or the end of its drain). The two sides' pointers differ within the
    timers' granularity, and each side is held to its own pointers by :func:`invariants`."""
    def explained(rec: dict, before: int) -> bool:
        e = err_name(rec)
        return e in POINTER_ERRS or (e == "EBADFD" and bool({before, rec["state"]}
                                                            & {XRUN, SETUP}))
    return ({state_name(k["state"]), state_name(m["state"])} <= POINTER_STATES
            and (err_name(k) == err_name(m)
                 or (explained(k, k_before) and explained(m, m_before))))


def compare(sc: Scenario, guest: list[dict],
            run: Callable[[Scenario, list[int]], list[dict]] = model.run) -> Result:
    """Compare the guest's records of ``sc`` with the model's run of it."""
    res = Result(sc.name)
    steps = (("open",),) + sc.steps
    times = [r["t"] for r in guest]
    mine = run(sc, times)
    res.steps = len(guest)
    res.findings += invariants(sc, guest, "guest")
    in_sync = True
    i = 0
    while i < len(guest):
        if i >= len(mine):
            res.findings.append(Finding(sc.name, i, steps[i][0], "mismatch",
                                        _summary(guest[i]), "(no step: the model stopped)"))
            break
        k, m = guest[i], mine[i]
        before = guest[i - 1]["state"] if i else 0
        m_before = mine[i - 1]["state"] if i else 0
        moving = not in_sync or any(  # it has moved, moves now, or starts in this step
            st in MOVING + (XRUN,) for st in (before, m_before, k["state"], m["state"]))
        same = (err_name(k) == err_name(m) and k["state"] == m["state"])
        if same and in_sync and not moving and k["state"] not in MOVING:
            same = k["ret"] == m["ret"] and k["appl"] == m["appl"]
        if not same and moving and res.timing < MAX_TIMING_STEPS:
            shifted = _shifted_run(sc, times, i, run, guest)
            if shifted is not None or _xrun_either_side_of_copy(k, m):
                if shifted is not None:
                    mine, times = shifted  # later shifts build on this one
                res.timing += 1
                in_sync = False
                res.compared += 1
                i += 1
                continue
        if not same:
            kn = _known(steps, guest, mine, i)
            if kn:
                kind, detail = "known", f"{kn.name} ({kn.mainline})"
            elif moving and (_pointer_dependent(k, m, before, m_before)
                             or _one_side_stopped_first(k, m, before, m_before)):
                kind, detail = "diverged", "pointer-dependent outcome; the rest not compared"
            else:
                kind, detail = "mismatch", ""
            res.findings.append(Finding(sc.name, i, steps[i][0], kind, _summary(k),
                                        _summary(m), detail))
            break  # what follows rests on a different state
        if moving or k["ret"] != m["ret"] or (i and (k["hw"] != guest[i - 1]["hw"]
                                                    or m["hw"] != mine[i - 1]["hw"])):
            in_sync = False  # the pointers have moved: from now on they may differ
        res.compared += 1
        if k["err"] == errno.EINTR:
            break
        i += 1
    res.findings += invariants(sc, mine[: i + 1], "model")
    if res.findings:
        res.trace = {"scenario": [sc.card, sc.stream, sc.nonblock, list(sc.steps)],
                     "guest": guest, "model": mine}
    return res


def _one_side_stopped_first(k: dict, m: dict, k_before: int, m_before: int) -> bool:
    """One side's stream stopped by itself (an xrun, a drain's end) before the step, where
    the other's still ran: a call that depends on running (prepare's EBUSY, start's
    EBADFD, a transfer) then answers as each side's own state says. An EBUSY means the
    stream still ran when the call was made, whatever state was read after it."""
    def stopped(rec: dict, before: int) -> bool:
        return (before in MOVING and rec["state"] in (SETUP, PREPARED, XRUN)
                and err_name(rec) in ("ok", "EPIPE", "EBADFD"))

    def running(rec: dict, before: int) -> bool:
        return ((rec["state"] in MOVING + (PAUSED,)
                 and err_name(rec) in ("ok", "EBUSY", "EBADFD", "EAGAIN"))
                or (err_name(rec) == "EBUSY" and before in MOVING))
    return ((stopped(k, k_before) and running(m, m_before))
            or (stopped(m, m_before) and running(k, k_before)))


def _xrun_either_side_of_copy(k: dict, m: dict) -> bool:
    """Both end in XRUN, one side having copied first: a transfer's first update finds an
    xrun only where the pointer moved since the last one (``snd_pcm_update_hw_ptr0``
    returns early otherwise), and the xrun is then found after the copy instead."""
    return (k["state"] == m["state"] == XRUN
            and {err_name(k), err_name(m)} == {"ok", "EPIPE"})


def _shifted_run(sc: Scenario, times: list[int], i: int, run, guest: list[dict]):
    """A model run with step ``i`` moved by the tolerance that agrees with the guest up to
    and including step ``i``, and the times it ran at; None when neither does."""
    rate = next((s[3] for s in sc.steps if s[0] == "hw"), 48000)
    tol = int((GRANULARITY_MS[sc.card] * 1e-3 + MODEL_LEAD_FRAMES / rate) * 1e9)
    for shift in (tol, -tol):
        t = list(times)
        j = i if sc.steps[i - 1][0] == "sleep" else i - 1  # when step i acts
        t[j] = max(t[j] + shift, t[j - 1] if j >= 1 else 0)
        alt = run(sc, t)
        if len(alt) > i and all(
                err_name(a) == err_name(g) and a["state"] == g["state"]
                for a, g in zip(alt[: i + 1], guest[: i + 1], strict=True)):
            return alt, t
    return None
