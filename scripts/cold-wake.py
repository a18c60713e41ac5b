#!/usr/bin/env python3
"""What a thread wake-up costs the work done right after it, on this machine.

Times the same small piece of Python work (a loop of ``--work`` multiply-adds) in CPU
time of the calling thread, back to back and after sleeps of 0.5, 5 and 20 ms, and
prints the median and mean of each in microseconds. On a VM the work after a sleep can
cost several times what it costs hot (caches and TLBs refilled, a host that descheduled
the vCPU): that factor multiplies everything the stack does once a period in real time,
where each of its threads sleeps between periods, and not the offline bench, which never
sleeps. With ``--stack``, the work is the stack's own: each ``writei`` of the offline
bench's playback (period 1024, on the virtual clock, so a ``writei`` also runs the
hardware, the interrupt and its bottom half up to the room it waits for), with the sleep
before each one.

    .venv/bin/python scripts/cold-wake.py
    .venv/bin/python scripts/cold-wake.py --stack
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def work(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def cost_us(sleep_s: float, n: int, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        if sleep_s:
            time.sleep(sleep_s)
        t = time.thread_time_ns()
        work(n)
        out.append((time.thread_time_ns() - t) / 1000)
    return out


def stack_cost_us(sleep_s: float, seconds: float) -> list[float]:
    """Thread CPU of each ``writei`` of the bench's offline playback, a sleep before each."""
    from demos import bench_worker
    from pcm.pcm_native import Substream

    writei, out = Substream.writei, []

    def timed(self, *a, **kw):
        if sleep_s:
            time.sleep(sleep_s)
        t = time.thread_time_ns()
        try:
            return writei(self, *a, **kw)
        finally:
            out.append((time.thread_time_ns() - t) / 1000)

    Substream.writei = timed
    try:
        res = bench_worker.stack(1024, seconds)
    finally:
        Substream.writei = writei
    if not res["exact"]:
        raise SystemExit("cold-wake: the stack's output differs from its input")
    return out[8:]  # past the start: the ring's first fill does not wait


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=int, default=300, help="loop length (default 300)")
    ap.add_argument("--runs", type=int, default=200, help="runs per sleep (default 200)")
    ap.add_argument("--stack", action="store_true",
                    help="time the stack's writei (offline, period 1024) instead of a loop")
    args = ap.parse_args()
    hot = None
    for sleep_s in (0.0, 0.0005, 0.005, 0.02):
        if args.stack:
            t = stack_cost_us(sleep_s, args.runs * 1024 / 48000)
        else:
            t = cost_us(sleep_s, args.work, args.runs)
        med = statistics.median(t)
        hot = hot or med
        print(f"after a sleep of {sleep_s * 1000:4.1f} ms: median {med:6.1f} us, "
              f"mean {statistics.fmean(t):6.1f} us, {med / hot:.1f}x hot")


if __name__ == "__main__":
    main()
