"""``python -m tests.oracle``: the kernel oracle run by hand (see tests/oracle/report.py)."""

from __future__ import annotations

import argparse
import json
import sys

from tests.oracle.compare import compare
from tests.oracle.guest import GuestUnavailable
from tests.oracle.report import run
from tests.oracle.scenarios import Scenario


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.oracle",
                                 description="The PCM core compared with Linux in QEMU.")
    ap.add_argument("--generated", type=int, default=200, metavar="N",
                    help="hypothesis scenarios besides the fixed set (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    ap.add_argument("--json", metavar="FILE", help="write the report as JSON too")
    ap.add_argument("--recheck", metavar="FILE", help="no boot: compare again the guest's "
                    "records that a --json report kept (its scenarios with findings)")
    a = ap.parse_args(argv)
    if a.recheck:
        return _recheck(a.recheck)
    try:
        report = run(a.generated, a.seed)
    except GuestUnavailable as e:
        print(f"oracle: {e}", file=sys.stderr)
        return 2
    print(report.table())
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report.as_dict(), f, indent=1)
    return 1 if report.count("mismatch") or report.count("invariant") else 0


def _recheck(path: str) -> int:
    """The comparison run again over a report's traces: after a change to the model or
    to the comparison, what the guest once answered is held against it anew."""
    with open(path) as f:
        traces = json.load(f)["traces"]
    bad = 0
    for name, t in traces.items():
        card, stream, nonblock, steps = t["scenario"]
        sc = Scenario(name, card, stream, nonblock, tuple(tuple(s) for s in steps))
        for f in compare(sc, t["guest"]).findings:
            print(f"{name:<12} {f.step:>4} {f.op:<8} {f.kind:<9} {f.guest} | {f.model}")
            bad += f.kind in ("mismatch", "invariant")
    print(f"rechecked {len(traces)} scenarios: {bad} mismatches or broken invariants")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
