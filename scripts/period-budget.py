#!/usr/bin/env python3
"""What a period costs offline: the full stack, the bench's floor, and a skeleton between.

For each period size, microseconds a period on the virtual clock (48 kHz S16_LE stereo,
4 periods, ``--seconds`` of noise) of three things, each in a process of its own and best
of three, as ``dma-audio bench`` runs its own jobs:

- ``stack``: the bench's ``stack`` job, the whole model;
- ``floor``: the bench's ``floor`` job, the copies alone in a numpy loop;
- ``skeleton``: the floor's copies with the stack's control flow and nothing else: a
  ``writei`` that updates the hardware pointer, waits for room by stepping the
  "hardware" a period at a time, each step raising an "interrupt" that goes down the
  stack's six levels (IRQ handler, virt-dma's completion, the dmaengine callback,
  ``snd_pcm_period_elapsed``, the hw_ptr update, the driver's pointer) as one call each,
  with no registers, no locks, no state machine and no checks: about 12 Python calls a
  period where the stack makes about 200.

The skeleton is no model of anything; it is the least a period can cost in Python with
the stack's shape, and so the ground left to a budget between the floor and the stack:
with ``4 x floor`` as the budget, what remains for the model is ``4 x floor`` less the
skeleton. The output is checked sample for sample as the bench checks its own.

    .venv/bin/python scripts/period-budget.py
    .venv/bin/python scripts/period-budget.py --periods 1024 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demos import bench_worker as bw  # noqa: E402
from demos.bench import job  # noqa: E402


def skeleton_copy(data: np.ndarray, period: int, periods: int = bw.PERIODS) -> np.ndarray:
    """The floor's copies, driven as the stack drives them (see the module's docstring)."""
    size = period * periods
    ring = np.zeros((size, data.shape[1]), data.dtype)
    fifo = np.zeros((period, data.shape[1]), data.dtype)
    out = np.empty_like(data)
    ptr = {"hw": 0, "appl": 0}

    def pointer() -> int:
        return ptr["hw"] % size

    def update_hw_ptr() -> int:
        return pointer()

    def period_elapsed() -> None:
        update_hw_ptr()

    def dma_complete() -> None:
        period_elapsed()

    def vchan_complete() -> None:
        dma_complete()

    def irq_handler() -> None:
        vchan_complete()

    def hw_step() -> None:
        hw = ptr["hw"]
        slot = hw % size
        fifo[:] = ring[slot : slot + period]
        out[hw : hw + period] = fifo
        ptr["hw"] = hw + period
        irq_handler()

    def writei(buf: np.ndarray) -> None:
        update_hw_ptr()
        while ptr["appl"] - ptr["hw"] >= size:
            hw_step()
        slot = ptr["appl"] % size
        ring[slot : slot + period] = buf
        ptr["appl"] += period

    n = len(data) // period * period
    for pos in range(0, n, period):
        writei(data[pos : pos + period])
    while ptr["hw"] < ptr["appl"]:
        hw_step()
    out[n:] = data[n:]
    return out


def skeleton(period: int, seconds: float, repeat: int = 3) -> dict:
    return bw.best_of(skeleton_copy, period, seconds, repeat)


def _skeleton_job(period: int, seconds: float) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--job", json.dumps([period, seconds])],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--periods", type=int, nargs="+", default=[64, 256, 1024, 4096],
                    help="period sizes in frames")
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="seconds of audio a run (the bench's offline length)")
    ap.add_argument("--job", help=argparse.SUPPRESS)  # [period, seconds]: the skeleton
    args = ap.parse_args()
    if args.job:
        print(json.dumps(skeleton(*json.loads(args.job))))
        return 0
    row = "{:>6} {:>9} {:>9} {:>9} {:>11} {:>14} {:>20}"
    print(row.format("period", "stack", "skeleton", "floor", "stack/floor", "skeleton/floor",
                     "4 x floor - skel."), "(µs a period, or ratios)")
    for period in args.periods:
        n = int(bw.RATE * args.seconds) // period
        st = min((job("stack", period=period, seconds=args.seconds) for _ in range(3)),
                 key=lambda r: r["seconds"])
        sk = _skeleton_job(period, args.seconds)
        fl = job("floor", period=period, seconds=args.seconds)
        if not (st["exact"] and sk["exact"] and fl["exact"]):
            print(f"period {period}: an output differs from its input", file=sys.stderr)
            return 1
        us = [r["seconds"] / n * 1e6 for r in (st, sk, fl)]
        print(row.format(period, f"{us[0]:.2f}", f"{us[1]:.2f}", f"{us[2]:.2f}",
                         f"{us[0] / us[2]:.1f}", f"{us[1] / us[2]:.2f}",
                         f"{4 * us[2] - us[1]:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
