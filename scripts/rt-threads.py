#!/usr/bin/env python3
"""Where real-time playback spends CPU: CPU time per thread of the stack playing on JACK.

Starts a private JACK server (dummy backend, 48 kHz, period 256), then in a process of
its own plays ``--seconds`` of noise through the full stack (the bench's ``rt-stack``
job) with ``--period``-frame periods, or the bare callback with ``--bare``, sampling
``/proc/self/task/*/stat`` every 0.2 s (threads that end are kept at their last sample).
Prints each thread's CPU in ms per second of wall time, and the job's own figures.
With ``--calls``, it also counts the stack's function calls per period on each of its
threads (cProfile around the card callback, the pacer's steps and ``writei``; the
profiler slows the run, so its CPU figures are not the bench's). With ``--phases``, the
CPU time of each step of a period in real time, in microseconds a call: the pacer's
hardware step to the event (the top half included), the bottom halves it runs at
``irq_exit``, the rest of the pacer's ``_next``, and the writer's ``writei``; set them
beside the offline bench's microseconds a period to see what the sleeps between periods
cost the same code (``--calls`` and ``--phases`` wrap the stack's methods, so they run
the pure-Python build). With ``--callbacks``, how each PortAudio callback came: its entry
latency (PortAudio's ``currentTime`` to the first Python line: mostly the wait for the
GIL), its time in Python, the wall time since the one before, and, for each callback
that carried an output underflow, the six around it: a long gap before an underflow
with a short entry latency is a server cycle that came late, not a callback that ran
late. ``--no-rt-server`` starts the server with ``--no-realtime`` even where real-time
is allowed; ``--switch-interval S`` holds the interpreter's switch interval at S
seconds while the card runs in place of the card's 1 ms (up to CPython's default 0.005,
which gives the conditions before the card held it). ``--rt-priority N`` runs the
stack's threads SCHED_FIFO N (0: normal priority); the default is the bench's, 4 where
the server runs real-time.

    .venv/bin/python scripts/rt-threads.py --period 1024 --seconds 20
    .venv/bin/python scripts/rt-threads.py --period 1024 --seconds 10 --calls
    .venv/bin/python scripts/rt-threads.py --period 1024 --seconds 20 --phases
    .venv/bin/python scripts/rt-threads.py --period 64 --seconds 30 --callbacks
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _ticks() -> dict[int, int]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


def _profile_calls() -> dict:
    """Wrap the card callback, the pacer's step and ``writei`` each in a profiler."""
    import cProfile

    from pcm.pcm_native import Substream
    from soc.device_pacer import DevicePacer
    from soc.sound_device import PortAudioDevice

    def profiled(fn, prof):
        def wrapped(*a, **kw):
            prof.enable()
            try:
                return fn(*a, **kw)
            finally:
                prof.disable()

        return wrapped

    profs = {}
    for name, cls, attr in (("card callback", PortAudioDevice, "_tick"),
                            ("pacer", DevicePacer, "_next"), ("writer", Substream, "writei")):
        profs[name] = cProfile.Profile()
        setattr(cls, attr, profiled(getattr(cls, attr), profs[name]))
    return profs


def _time_phases() -> dict[str, list[int]]:
    """Wrap the pacer's step, its ``irq_exit`` and ``_next``, and ``writei`` each in a
    counter of calls and thread CPU nanoseconds."""
    from pcm.pcm_native import Substream
    from soc import device_pacer
    from soc.clock import RealtimeClock
    from soc.device_pacer import DevicePacer

    phases: dict[str, list[int]] = {}

    def timed(fn, name: str):
        cell = phases[name] = [0, 0]

        def wrapped(*a, **kw):
            t = time.thread_time_ns()
            try:
                return fn(*a, **kw)
            finally:
                cell[0] += 1
                cell[1] += time.thread_time_ns() - t

        return wrapped

    RealtimeClock.step = timed(RealtimeClock.step, "pacer: hardware step to the event")
    device_pacer.irq_exit = timed(device_pacer.irq_exit, "pacer: bottom halves at irq_exit")
    DevicePacer._next = timed(DevicePacer._next, "pacer: _next (the two above included)")
    Substream.writei = timed(Substream.writei, "writer: writei")
    return phases


def _time_callbacks() -> dict[str, list]:
    """Wrap every output stream's callback in a recorder of how it came (see above)."""
    import sounddevice as sd

    rec: dict[str, list] = {"entry": [], "inside": [], "gap": [], "underflow": []}
    opened = sd.OutputStream

    class Recorded(opened):
        def __init__(self, *a, callback, **kw):
            last = [0.0]

            def recorded(outdata, frames, t, status):
                entry = self.time - t.currentTime  # Pa_GetStreamTime: now
                m = time.monotonic()
                rec["entry"].append(entry)
                rec["gap"].append(m - last[0] if last[0] else 0.0)
                last[0] = m
                if status.output_underflow:
                    rec["underflow"].append(len(rec["entry"]) - 1)
                try:
                    callback(outdata, frames, t, status)
                finally:
                    rec["inside"].append(time.monotonic() - m)

            super().__init__(*a, callback=recorded, **kw)

    sd.OutputStream = Recorded
    return rec


def _print_callbacks(rec: dict[str, list]) -> None:
    import numpy as np

    ms = {k: np.asarray(rec[k]) * 1000 for k in ("entry", "inside", "gap")}
    print(f"{len(ms['entry'])} callbacks, ms: p50 / p99 / p99.9 / max")
    for k, what in (("entry", "entry latency"), ("inside", "in Python"),
                    ("gap", "since the one before")):
        q = np.percentile(ms[k][10:], [50, 99, 99.9, 100])  # the stream's start left out
        print(f"  {what:22} " + " / ".join(f"{v:.2f}" for v in q))
    for i in rec["underflow"]:
        around = slice(max(i - 3, 0), i + 3)
        print(f"  underflow at callback {i}: gap " +
              " ".join(f"{v:.2f}" for v in ms["gap"][around]) + ", entry " +
              " ".join(f"{v:.2f}" for v in ms["entry"][around]))


def _print_phases(phases: dict[str, list[int]]) -> None:
    print("CPU a call, by step of the period:")
    for name, (n, ns) in phases.items():
        print(f"  {name:40} {ns / max(n, 1) / 1000:7.1f} us x {n}")


def _print_calls(profs: dict, periods: float) -> None:
    import pstats

    for name, prof in profs.items():
        stats = pstats.Stats(prof).stats  # (file, line, function) -> (cc, ncalls, ...)
        calls = sum(v[1] for v in stats.values())
        py = sum(v[1] for k, v in stats.items() if k[0] != "~")
        print(f"{name}: {calls / periods:.0f} calls a period, {py / periods:.0f} to Python "
              "functions; the most called:")
        for (file, line, fn), v in sorted(stats.items(), key=lambda kv: -kv[1][1])[:8]:
            where = fn if file == "~" else f"{Path(file).name}:{line} {fn}"
            print(f"  {v[1] / periods:6.1f}  {where}")


def child(device: int, period: int, seconds: float, bare: str, calls: bool,
          phases: bool, callbacks: bool, switch_interval: float | None,
          rt_priority: int | None) -> None:
    from demos import bench_worker
    from soc.switch_interval import switch_interval as held

    if switch_interval is not None:
        held.limit_s = switch_interval
    profs = _profile_calls() if calls and not bare else {}
    timed = _time_phases() if phases and not bare else {}
    came = _time_callbacks() if callbacks else {}

    names: dict[int, str] = {threading.main_thread().native_id: "main (writer)"}
    last: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for t in threading.enumerate():
                if t.native_id and t.native_id not in names:
                    names[t.native_id] = t.name
            last.update(_ticks())
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, name="sampler", daemon=True)
    sampler.start()
    before, t0 = _ticks(), time.monotonic()
    if bare == "bare":
        res = bench_worker.rt_bare(device, period, seconds)
    elif bare == "app":
        res = bench_worker.rt_bare_app(device, period, seconds, rt_priority)
    else:
        res = bench_worker.rt_stack(device, period, seconds, rt_priority)
    last.update(_ticks())
    wall = time.monotonic() - t0
    stop.set()
    hz = os.sysconf("SC_CLK_TCK")
    for tid in sorted(set(before) | set(last)):
        ms = (last.get(tid, 0) - before.get(tid, 0)) * 1000 / hz
        if ms:
            name = names.get(tid, f"{tid} (native: PortAudio/JACK)")
            print(f"{name:34} {ms / wall:7.2f} ms/s")
    print(json.dumps(res))
    print(f"process CPU over wall time: {res['cpu_s'] / res['wall_s']:.2%} "
          "(the main thread's figure includes opening and closing the stream)")
    if profs:
        _print_calls(profs, seconds * bench_worker.RATE / period)
    if timed:
        _print_phases(timed)
    if came:
        _print_callbacks(came)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--period", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--bare", action="store_const", const="bare", default="",
                    help="the bare sounddevice callback")
    ap.add_argument("--bare-app", dest="bare", action="store_const", const="app",
                    help="the bare copies in an application's threads (rt-bare-app)")
    ap.add_argument("--calls", action="store_true",
                    help="count the stack's calls a period on each thread (cProfile)")
    ap.add_argument("--phases", action="store_true",
                    help="CPU a call of the pacer's step, bottom halves and writei")
    ap.add_argument("--callbacks", action="store_true",
                    help="how each card callback came: entry latency, time, gap")
    ap.add_argument("--no-rt-server", action="store_true",
                    help="start jackd with --no-realtime even where real-time is allowed")
    ap.add_argument("--switch-interval", type=float, metavar="S",
                    help="the switch interval the card holds, in seconds (default 0.001)")
    ap.add_argument("--rt-priority", type=int, metavar="N",
                    help="the stack's threads at SCHED_FIFO N; 0 for normal priority "
                    "(default: as the bench, 4 on a real-time server, else normal)")
    ap.add_argument("--device", type=int, help=argparse.SUPPRESS)  # set for the child
    args = ap.parse_args()
    if sum((args.calls, args.phases, args.callbacks)) > 1:
        ap.error("--calls, --phases and --callbacks each slow the others' figures: pick one")
    if args.device is not None:
        child(args.device, args.period, args.seconds, args.bare, args.calls, args.phases,
              args.callbacks, args.switch_interval, args.rt_priority or None)
        return 0
    from demos.bench import STACK_RT_PRIORITY
    from demos.jack import JackError, JackServer

    try:
        with JackServer("rt-threads", realtime=False if args.no_rt_server else None) as server:
            print(f"jackd: {'real-time' if server.realtime else 'not real-time'}")
            cmd = [sys.executable, __file__, "--device", str(server.device),
                   "--period", str(args.period), "--seconds", str(args.seconds)]
            cmd += {"bare": ["--bare"], "app": ["--bare-app"], "": []}[args.bare]
            cmd += ["--calls"] if args.calls else []
            cmd += ["--phases"] if args.phases else []
            cmd += ["--callbacks"] if args.callbacks else []
            if args.switch_interval is not None:
                cmd += ["--switch-interval", str(args.switch_interval)]
            prio = args.rt_priority
            if prio is None:
                prio = STACK_RT_PRIORITY if server.realtime else 0
            print(f"the stack's threads: {f'SCHED_FIFO {prio}' if prio else 'normal'}")
            cmd += ["--rt-priority", str(prio)]
            env = dict(server.env)
            if args.calls or args.phases:  # they wrap methods: the compiled classes refuse
                env["DMA_AUDIO_PURE"] = "1"
                print("--calls and --phases run the pure-Python build (DMA_AUDIO_PURE=1)")
            return subprocess.run(cmd, env=env).returncode
    except JackError as e:
        print(f"rt-threads: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
