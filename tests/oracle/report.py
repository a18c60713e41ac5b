"""One oracle run: the scenarios booted in one guest, compared, reported.

``python -m tests.oracle [--generated N] [--seed S] [--json FILE]`` prints a table of
the run (scenarios, steps compared, steps within the timers' tolerance, findings with
both sides' answers); ``--json`` also writes it as JSON.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.oracle import guest
from tests.oracle.compare import Finding, Result, compare
from tests.oracle.scenarios import FIXED, Scenario, generated, to_text

GUEST_TIMEOUT_S = 600


@dataclass
class Report:
    kernel: str
    fixed: int
    generated: int
    seed: int
    boot_s: float
    compare_s: float
    results: list[Result] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # scenarios the guest cut short

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.findings)

    def as_dict(self) -> dict:
        return {"kernel": self.kernel, "fixed": self.fixed, "generated": self.generated,
                "seed": self.seed, "boot_s": round(self.boot_s, 1),
                "compare_s": round(self.compare_s, 1),
                "scenarios": len(self.results),
                "steps": sum(r.steps for r in self.results),
                "compared": sum(r.compared for r in self.results),
                "timing": sum(r.timing for r in self.results),
                "mismatches": self.count("mismatch"), "known": self.count("known"),
                "diverged": self.count("diverged"),
                "invariant": self.count("invariant"), "skipped": self.skipped,
                "findings": [asdict(f) for f in self.findings],
                "traces": {r.scenario: r.trace for r in self.results if r.trace}}

    def table(self) -> str:
        d = self.as_dict()
        lines = [f"kernel oracle: Debian {d['kernel']} under QEMU/TCG; "
                 f"boot and run {d['boot_s']} s, model and comparison {d['compare_s']} s",
                 f"  scenarios {d['scenarios']} ({d['fixed']} fixed, {d['generated']} "
                 f"generated, seed {d['seed']}); steps {d['steps']}, compared "
                 f"{d['compared']}, within the timers' tolerance {d['timing']}",
                 f"  mismatches {d['mismatches']}, known 6.1-vs-mainline {d['known']}, "
                 f"invariant violations {d['invariant']}; diverged by pointer-dependent "
                 f"outcomes (not compared further) {d['diverged']}"]
        if self.findings:
            lines.append(f"  {'scenario':<22} {'step':>4} {'op':<8} {'kind':<9} "
                         f"{'guest (6.1)':<40} model")
            for f in self.findings:
                lines.append(f"  {f.scenario:<22} {f.step:>4} {f.op:<8} {f.kind:<9} "
                             f"{f.guest:<40} {f.model}" + (f"  [{f.detail}]" if f.detail
                                                           else ""))
        return "\n".join(lines)


def run(count: int, seed: int, scenarios: list[Scenario] | None = None) -> Report:
    """Boot once with the fixed set and ``count`` generated scenarios; compare each."""
    chosen = list(FIXED) + generated(count, seed) if scenarios is None else scenarios
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        t = time.monotonic()
        kernel, records, _ = guest.boot(to_text(chosen), Path(tmp), GUEST_TIMEOUT_S)
        boot_s = time.monotonic() - t
    by_name: dict[str, list[dict]] = {}
    skipped = []
    for rec in records:
        if "s" in rec and "i" in rec:
            by_name.setdefault(rec["s"], []).append(rec)
        elif rec.get("end") and rec.get("skipped"):
            skipped.append(rec["s"])
    t = time.monotonic()
    results = [compare(sc, by_name.get(sc.name, [])) for sc in chosen]
    report = Report(f"{kernel.version} ({kernel.package})", len(FIXED) if scenarios is None
                    else 0, count if scenarios is None else len(chosen), seed, boot_s,
                    time.monotonic() - t, results, skipped)
    return report
