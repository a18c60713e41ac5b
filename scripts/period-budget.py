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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demos import bench_worker as bw  # noqa: E402
from demos.bench import job  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--periods", type=int, nargs="+", default=[64, 256, 1024, 4096],
                    help="period sizes in frames")
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="seconds of audio a run (the bench's offline length)")
    args = ap.parse_args()
    row = "{:>6} {:>9} {:>9} {:>9} {:>11} {:>14} {:>20}"
    print(row.format("period", "stack", "skeleton", "floor", "stack/floor", "skeleton/floor",
                     "4 x floor - skel."), "(µs a period, or ratios)")
    for period in args.periods:
        n = int(bw.RATE * args.seconds) // period
        st = min((job("stack", period=period, seconds=args.seconds) for _ in range(3)),
                 key=lambda r: r["seconds"])
        sk = job("skeleton", period=period, seconds=args.seconds)
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
