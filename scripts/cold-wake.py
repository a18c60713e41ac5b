#!/usr/bin/env python3
"""What a thread wake-up costs the work done right after it, on this machine.

Times the same small piece of Python work (a loop of ``--work`` multiply-adds) in CPU
time of the calling thread, back to back and after sleeps of 0.5, 5 and 20 ms, and
prints the median and mean of each in microseconds. On a VM the work after a sleep can
cost several times what it costs hot (caches and TLBs refilled, a host that descheduled
the vCPU): that factor multiplies everything the stack does once a period in real time,
where each of its threads sleeps between periods, and not the offline bench, which never
sleeps.

    .venv/bin/python scripts/cold-wake.py
"""

from __future__ import annotations

import argparse
import statistics
import time


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=int, default=300, help="loop length (default 300)")
    ap.add_argument("--runs", type=int, default=200, help="runs per sleep (default 200)")
    args = ap.parse_args()
    hot = None
    for sleep_s in (0.0, 0.0005, 0.005, 0.02):
        t = cost_us(sleep_s, args.work, args.runs)
        med = statistics.median(t)
        hot = hot or med
        print(f"after a sleep of {sleep_s * 1000:4.1f} ms: median {med:6.1f} us, "
              f"mean {statistics.fmean(t):6.1f} us, {med / hot:.1f}x hot")


if __name__ == "__main__":
    main()
