#!/usr/bin/env python3
"""Where the offline stack spends its time: a sampling profile of the bench's ``stack`` job.

Runs ``python -m demos.bench_worker stack`` (the full stack on the virtual clock, as
``dma-audio bench`` times it) under py-spy, which samples the process from outside, so
the figures are not bent by a profiler's hook on every call as cProfile's are. Prints the
job's time per period (pooled over ``--runs`` runs of the bench's length; py-spy pauses
the process for each sample, so it is slower than the bench's), then the functions with
the most samples: ``self`` counts the samples in the function's own code, ``total``
those anywhere under it; both are shares of the samples taken under ``play_one``.
py-spy is not a dependency of the project: ``.venv/bin/pip install -e ".[profile]"``;
it needs leave to trace (root, or CAP_SYS_PTRACE).

    .venv/bin/python scripts/profile-offline.py --period 1024
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """``Class.fn (path/file.py:123)`` -> ``Class.fn (path/file.py)``: lines merged."""
    m = FRAME.match(frame)
    if not m:
        return frame
    return f"{m['fn']} ({m['file'].replace(str(ROOT) + '/', '')})"


def aggregate(raw_lines: list[str], root: str = "play_one") -> tuple[int, Counter, Counter]:
    """Collapsed stacks (py-spy's ``raw`` format: ``f1;f2;...;fn count``) -> (samples
    under ``root``, self samples by function, total samples by function). A function
    that recurses counts once a sample in its total."""
    own: Counter = Counter()
    total: Counter = Counter()
    n_all = 0
    for line in raw_lines:
        stack, _, count = line.strip().rpartition(" ")
        if not stack:  # a sample with no Python stack (py-spy writes " N")
            continue
        frames = [frame_name(f) for f in stack.split(";")]
        at = next((i for i, f in enumerate(frames) if f.startswith(root + " ")), None)
        if at is None:
            continue
        n = int(count)
        frames = frames[at:]
        n_all += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    return n_all, own, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--period", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="seconds of audio a run (the bench's 60)")
    ap.add_argument("--runs", type=int, default=10, help="runs to pool the samples of")
    ap.add_argument("--rate", type=int, default=500, help="samples a second")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if min(args.period, args.runs, args.rate, args.top) < 1 or args.seconds <= 0:
        ap.error("--period, --seconds, --runs, --rate and --top must be positive")
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print('profile-offline: py-spy not found; pip install -e ".[profile]"', file=sys.stderr)
        return 2
    raw_lines: list[str] = []
    runs = []
    job = json.dumps({"period": args.period, "seconds": args.seconds})
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        for _ in range(args.runs):
            cmd = [spy, "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--",
                   sys.executable, "-m", "demos.bench_worker", "stack", job]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not raw.exists() or not lines:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"profile-offline: py-spy failed: {tail}", file=sys.stderr)
                return 1
            runs.append(json.loads(lines[-1]))
            raw_lines += raw.read_text().splitlines()
    n, own, total = aggregate(raw_lines)
    res = {"periods": sum(r["periods"] for r in runs), "seconds": sum(r["seconds"] for r in runs)}
    print(f"period {args.period}, {args.runs} runs: {res['periods']} periods in "
          f"{res['seconds']:.3f} s, {res['seconds'] / res['periods'] * 1e6:.1f} us a period "
          f"under py-spy; {n} samples under play_one")
    print(f"{'self':>6} {'total':>6}  function")
    for fn, k in own.most_common(args.top):
        print(f"{100 * k / n:5.1f}% {100 * total[fn] / n:5.1f}%  {fn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
