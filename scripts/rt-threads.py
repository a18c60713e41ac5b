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
cost the same code.

    .venv/bin/python scripts/rt-threads.py --period 1024 --seconds 20
    .venv/bin/python scripts/rt-threads.py --period 1024 --seconds 10 --calls
    .venv/bin/python scripts/rt-threads.py --period 1024 --seconds 20 --phases
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
    from soc.card import SoundDeviceCard
    from soc.card_pacer import CardPacer

    def profiled(fn, prof):
        def wrapped(*a, **kw):
            prof.enable()
            try:
                return fn(*a, **kw)
            finally:
                prof.disable()

        return wrapped

    profs = {}
    for name, cls, attr in (("card callback", SoundDeviceCard, "_tick"),
                            ("pacer", CardPacer, "_next"), ("writer", Substream, "writei")):
        profs[name] = cProfile.Profile()
        setattr(cls, attr, profiled(getattr(cls, attr), profs[name]))
    return profs


def _time_phases() -> dict[str, list[int]]:
    """Wrap the pacer's step, its ``irq_exit`` and ``_next``, and ``writei`` each in a
    counter of calls and thread CPU nanoseconds."""
    from pcm.pcm_native import Substream
    from soc import card_pacer
    from soc.card_pacer import CardPacer
    from soc.clock import RealtimeClock

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
    card_pacer.irq_exit = timed(card_pacer.irq_exit, "pacer: bottom halves at irq_exit")
    CardPacer._next = timed(CardPacer._next, "pacer: _next (the two above included)")
    Substream.writei = timed(Substream.writei, "writer: writei")
    return phases


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


def child(device: int, period: int, seconds: float, bare: bool, calls: bool,
          phases: bool) -> None:
    from demos import bench_worker

    profs = _profile_calls() if calls and not bare else {}
    timed = _time_phases() if phases and not bare else {}

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
    job = bench_worker.rt_bare if bare else bench_worker.rt_stack
    res = job(device, period, seconds)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--period", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--bare", action="store_true", help="the bare sounddevice callback")
    ap.add_argument("--calls", action="store_true",
                    help="count the stack's calls a period on each thread (cProfile)")
    ap.add_argument("--phases", action="store_true",
                    help="CPU a call of the pacer's step, bottom halves and writei")
    ap.add_argument("--device", type=int, help=argparse.SUPPRESS)  # set for the child
    args = ap.parse_args()
    if args.calls and args.phases:
        ap.error("--calls and --phases each slow the other's figures: pick one")
    if args.device is not None:
        child(args.device, args.period, args.seconds, args.bare, args.calls, args.phases)
        return 0
    from demos.jack import JackError, JackServer

    try:
        with JackServer("rt-threads") as server:
            cmd = [sys.executable, __file__, "--device", str(server.device),
                   "--period", str(args.period), "--seconds", str(args.seconds)]
            cmd += ["--bare"] if args.bare else []
            cmd += ["--calls"] if args.calls else []
            cmd += ["--phases"] if args.phases else []
            return subprocess.run(cmd, env=server.env).returncode
    except JackError as e:
        print(f"rt-threads: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
