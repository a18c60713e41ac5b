"""``python -m tests.oracle``: the kernel oracle run by hand (see tests/oracle/report.py)."""

from __future__ import annotations

import argparse
import json
import sys

from tests.oracle.guest import GuestUnavailable
from tests.oracle.report import run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.oracle",
                                 description="The PCM core compared with Linux in QEMU.")
    ap.add_argument("--generated", type=int, default=200, metavar="N",
                    help="hypothesis scenarios besides the fixed set (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    ap.add_argument("--json", metavar="FILE", help="write the report as JSON too")
    a = ap.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
