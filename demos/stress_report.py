"""What a stress run found, for a person (a table, a timeline picture) and for programs
(JSON). The sweep's table and plot show xruns and CPU against period size."""

from __future__ import annotations

import json
from typing import Any

from demos.stress import Result

ROWS = [
    ("xruns", "xruns (PCM XRUN, or underruns the writer saw when free-running)"),
    ("fifo_underruns", "I2S TX FIFO underruns"),
    ("card_underflows", "card output underflows (PortAudio)"),
    ("capture_overruns", "capture overruns"),
    ("eio", "writes timed out (DMA or IRQ trouble?)"),
    ("recoveries", "recoveries (prepare / forward / drop+prepare)"),
    ("periods", "periods (DMA terminal counts while running)"),
    ("irqs", "DMA interrupts handled (top halves)"),
    ("lost_irqs", "interrupts lost (injected)"),
    ("coalesced_callbacks", "periods without a callback of their own"),
    ("max_irq_latency_ms", "worst period-to-callback latency, ms"),
    ("frames_written", "input frames written"),
    ("frames_played", "input frames heard, in order"),
    ("frames_lost", "input frames never heard"),
    ("glitch_count", "glitches found in the output"),
    ("glitches_unexplained", "glitches with no reported event"),
    ("xruns_without_glitch", "xruns that left no glitch"),
    ("cpu_per_audio_s", "CPU seconds per second of audio"),
]


def table(summary: dict, title: str) -> Any:
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("what")
    t.add_column("value", justify="right")
    s = dict(summary, glitch_count=len(summary["glitches"]))
    if summary.get("frames_lost") is None:  # the input could not be matched
        s["glitch_count"] = None
    for key, label in ROWS:
        t.add_row(label, "not measured" if s[key] is None else str(s[key]))
    return t


def glitch_table(summary: dict) -> Any:
    from rich.table import Table

    t = Table(title="glitches", header_style="bold")
    for col in ("at (s)", "kind", "inserted", "lost"):
        t.add_column(col, justify="right")
    for g in summary["glitches"][:40]:
        t.add_row(f"{g['at_s']:.4f}", g["kind"], str(g["inserted"]), str(g["lost"]))
    return t


def show(result: Result, console: Any) -> None:
    s = result.summary
    title = (f"stress: {s['mode']} mode, {s['format']} {s['rate']} Hz {s['channels']} ch, "
             f"period {s['period_size']}, buffer {s['buffer_size']}; {s['ended_by']}")
    console.print(table(s, title))
    if s["glitches"]:
        console.print(glitch_table(s))
    for line in s["log"][-6:]:
        console.print(f"[dim]pcm: {line}[/dim]")


def write_json(path: str, result: Result) -> None:
    doc = dict(result.summary, events=[e.as_dict(result.t0_ns) for e in result.events],
               stalls=[{"at_s": w.at, "duration_s": w.duration} for w in result.stalls])
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


def plot(path: str, result: Result) -> None:
    """A timeline: ring fill (hw_avail), period interrupts, stalls, xruns, glitches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, p = result.summary, result.probe
    fig, ax = plt.subplots(figsize=(12, 4.5))
    if p.fill:
        t = [result.seconds(a) for a, _ in p.fill]
        ax.step(t, [b for _, b in p.fill], where="post", lw=0.8, label="ring fill (hw_avail)")
    ax.axhline(s["buffer_size"], color="grey", lw=0.5, ls=":")
    marks = p.irq_marks[:: max(1, len(p.irq_marks) // 2000)]
    ax.plot([result.seconds(m) for m in marks], [-0.04 * s["buffer_size"]] * len(marks), "|",
            color="tab:green", ms=6, label="period interrupts")
    for k, w in enumerate(result.stalls):
        ax.axvspan(w.at, w.at + w.duration, color="tab:orange", alpha=0.25,
                   label="writer stall" if k == 0 else None)
    colors = {"xrun": "tab:red", "underrun": "tab:red", "eio": "black",
              "fifo_underrun": "tab:purple", "card_underflow": "tab:brown",
              "capture_overrun": "tab:pink"}
    seen: set[str] = set()
    for e in result.events:
        ax.axvline(result.seconds(e.at_ns), color=colors.get(e.kind, "k"), lw=1.2,
                   label=e.kind if e.kind not in seen else None)
        seen.add(e.kind)
    for k, g in enumerate(s["glitches"]):
        ax.plot(g["at_s"], 1.05 * s["buffer_size"], "v", color="tab:red",
                label="glitch in the output" if k == 0 else None)
    ax.set_xlabel("seconds into the signal")
    ax.set_ylabel("frames queued in the ring")
    found = ("output not matched to the input" if s["frames_lost"] is None else
             f"{len(s['glitches'])} glitches, {s['frames_lost']} frames lost")
    ax.set_title(f"{s['mode']} mode: {s['xruns']} xruns, {found} (period "
                 f"{s['period_size']}, buffer {s['buffer_size']})")
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_table(rows: list[dict]) -> Any:
    from rich.table import Table

    t = Table(title="period-size sweep: latency against xruns and CPU", header_style="bold")
    for col in ("period", "buffer", "latency (ms)", "periods/s", "xruns", "glitches",
                "CPU s / audio s"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(str(r["period_size"]), str(r["buffer_size"]), f"{r['latency_ms']:.1f}",
                  f"{r['periods_per_s']:.0f}", str(r["xruns"]), str(r["glitches"]),
                  f"{r['cpu_per_audio_s']:.4f}")
    return t


def sweep_plot(path: str, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["period_size"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x, [r["xruns"] for r in rows], "o-", color="tab:red", label="xruns")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("period size (frames)")
    ax.set_ylabel("xruns", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(x, [r["cpu_per_audio_s"] for r in rows], "s--", color="tab:blue", label="CPU")
    ax2.set_ylabel("CPU seconds per audio second", color="tab:blue")
    ax.set_title("small periods: low latency, more interrupts and CPU; large: fewer xruns")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
