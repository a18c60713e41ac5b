"""What a stress run found, for a person (a table, a timeline picture) and for programs
(JSON). The sweep's table and plot show xruns and CPU against period size."""

from __future__ import annotations

import json
from typing import Any

from demos.stress import NS, Result

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


def plural(n: int, word: str) -> str:
    """"1 xrun", "2 xruns", "2 glitches"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith('ch') else 's'}"


def timeline(result: Result) -> list[tuple[float, str]]:
    """What happened, in time order (seconds into the signal): the faults as they were
    injected, the stalls, the xruns and underruns, and the glitches in the output."""
    s, rate = result.summary, result.rate
    ring_ms = s["buffer_size"] * 1000 / rate
    out: list[tuple[float, int, str]] = []  # (when, causes before effects, what)
    for w in result.stalls:
        out.append((w.at, 0, f"the writer stalled {w.duration * 1000:.0f} ms at {w.at:.2f} s"))
    for at, what in result.injected:
        out.append((at, 0, f"{what} at {at:.3f} s"))
    for e in result.events:
        at = result.seconds(e.at_ns)
        if e.kind in ("xrun", "underrun"):
            out.append((at, 1, f"the {ring_ms:.0f} ms ring ran dry at {at:.3f} s; "
                        f"{'XRUN' if e.kind == 'xrun' else 'underrun (free-running)'}"))
        else:
            out.append((at, 1, f"{e.kind.replace('_', ' ')} at {at:.3f} s"))
    for g in s["glitches"]:
        bits = []
        if g["inserted"]:
            what = {"silence": "silence", "stale": "stale ring audio replayed",
                    "noise": "noise", "skip": "audio"}.get(g["kind"], g["kind"])
            bits.append(f"{g['inserted'] * 1000 / rate:.0f} ms of {what}")
        if g["lost"]:
            bits.append(f"{plural(g['lost'], 'frame')} lost")
        if bits:
            out.append((g["at_s"], 2, f"{'; '.join(bits)} in the output at {g['at_s']:.3f} s"))
    return [(at, text) for at, _, text in sorted(out, key=lambda x: (round(x[0], 3), x[1]))]


def steady_faults(result: Result) -> list[str]:
    """The faults that last the whole run, in words."""
    f = result.faults
    steady: list[str] = []
    if f is not None:
        if f.irq_latency_ms:
            steady.append(f"bottom halves {f.irq_latency_ms:g} ms late")
        if f.lose_irqs:
            steady.append(f"{f.lose_irqs:.0%} of interrupts lost")
        if f.jitter_ms:
            steady.append(f"writes delayed {f.jitter_ms:g} ms on average")
        if f.hogs:
            steady.append(plural(f.hogs, "CPU hog"))
    return steady


def account(result: Result) -> str:
    """The run in plain words: the faults and what they did, in time order."""
    s = result.summary
    steady = steady_faults(result)
    items = [text for _, text in timeline(result)]
    if not s["xruns"]:
        items.append("no xrun")
    head = f"With {', '.join(steady)}: " if steady else ""
    return head + "; ".join(items) + "."


def show(result: Result, console: Any) -> None:
    s = result.summary
    title = (f"stress: {s['mode']} mode, {s['format']} {s['rate']} Hz {s['channels']} ch, "
             f"period {s['period_size']}, buffer {s['buffer_size']}; {s['ended_by']}")
    console.print(account(result))
    console.print(table(s, title))
    if s["glitches"]:
        console.print(glitch_table(s))
    for line in s["log"][-6:]:
        console.print(f"[dim]pcm: {line}[/dim]")


def write_json(path: str, result: Result, argv: list[str] | None = None,
               input_name: str = "") -> None:
    """The summary with the plan (every fault, the seed), the input, the command line,
    the account, and the events and faults in time order."""
    import dataclasses
    import sys

    f = result.faults
    doc = dict(result.summary, events=[e.as_dict(result.t0_ns) for e in result.events],
               stalls=[{"at_s": w.at, "duration_s": w.duration} for w in result.stalls],
               faults=dataclasses.asdict(f) if f is not None else {},
               seed=f.seed if f is not None else None,
               injected=[{"at_s": at, "what": what} for at, what in result.injected],
               input=input_name, command_line=list(sys.argv if argv is None else argv),
               account=account(result),
               timeline=[{"at_s": round(at, 6), "what": text}
                         for at, text in timeline(result)])
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


def _envelope(t, lo, hi, buckets: int = 800):
    """(t, low, high) of the points ``lo``..``hi`` in at most ``buckets`` time buckets: a
    64-frame period's sawtooth drawn as its band, not as a solid block of lines."""
    import numpy as np

    ta = np.asarray(t, float)
    la, ha = np.asarray(lo, float), np.asarray(hi, float)
    if len(ta) <= 2 * buckets:
        return ta, la, ha
    edges = np.linspace(ta[0], ta[-1], buckets + 1)
    idx = np.clip(np.searchsorted(edges, ta, side="right") - 1, 0, buckets - 1)
    low = np.full(buckets, np.nan)
    high = np.full(buckets, np.nan)
    np.fmin.at(low, idx, la)
    np.fmax.at(high, idx, ha)
    keep = ~np.isnan(low)
    return (edges[:-1] + edges[1:])[keep] / 2, low[keep], high[keep]


def _timeline_axes(ax, result: Result, span: tuple[float, float] | None = None) -> None:
    """One panel: the ring's fill, the DMA's progress, interrupts, faults and effects."""
    import numpy as np

    s, p = result.summary, result.probe
    buffer = s["buffer_size"]
    ns, low, high = p.fill.points()
    t = (ns - result.t0_ns) / NS
    if span is not None:  # the zoom draws its own samples, at its own resolution
        inside = (span[0] <= t) & (t <= span[1])
        t, low, high = t[inside], low[inside], high[inside]
    if len(t):
        # below 0 the DMA replays stale frames
        tt, lo, hi = _envelope(t, np.maximum(low, 0), np.maximum(high, 0))
        if len(tt) == len(t) and p.fill.stride == 1:
            ax.step(tt, lo, where="post", lw=0.8, color="tab:blue",
                    label="frames queued in the ring (at each pointer update)")
        else:
            ax.fill_between(tt, lo, hi, step="mid", color="tab:blue", alpha=0.35, lw=0,
                            label="frames queued in the ring (range within each pixel)")
            for edge in (lo, hi):  # a band of no height is still seen
                ax.step(tt, edge, where="mid", lw=0.4, color="tab:blue")
        if (low < 0).any():
            ax.plot([], [], " ", label="(empty ring, free-running: stale frames replay)")
    ax.axhline(buffer, color="grey", lw=0.5, ls=":")
    if len(p.dma):
        dns, _, moved = p.dma.points()
        ax2 = ax.twinx()
        ax2.plot((dns - result.t0_ns) / NS, moved,
                 color="tab:green", lw=0.8, label="frames the DMA has moved (continuous)")
        ax2.set_ylabel("frames moved by the DMA", color="tab:green")
        ax2.set_gid("dma_axis")
    irq_ns = p.irq_marks.points()[0]
    marks = irq_ns[:: max(1, len(irq_ns) // 2000)]
    ax.plot((marks - result.t0_ns) / NS, [-0.04 * buffer] * len(marks), "|",
            color="tab:green", ms=6, label="period interrupts")
    for k, w in enumerate(result.stalls):
        ax.axvspan(w.at, w.at + w.duration, color="tab:orange", alpha=0.25,
                   label="writer stalled" if k == 0 else None)
    for k, (at, what) in enumerate(result.injected):
        ax.axvline(at, color="tab:olive", lw=1.2, ls="--",
                   label="injected fault" if k == 0 else None)
        ax.annotate(what, (at, 0.6 * buffer), fontsize=7, rotation=90, color="tab:olive")
    words = {"xrun": "xrun (the ring ran dry)", "underrun": "underrun (free-running)",
             "eio": "write timed out (EIO)", "fifo_underrun": "I2S FIFO ran dry",
             "card_underflow": "card underflow", "capture_overrun": "capture overrun"}
    colors = {"xrun": "tab:red", "underrun": "tab:red", "eio": "black",
              "fifo_underrun": "tab:purple", "card_underflow": "tab:brown",
              "capture_overrun": "tab:pink"}
    seen: set[str] = set()
    for e in result.events:
        ax.axvline(result.seconds(e.at_ns), color=colors.get(e.kind, "k"), lw=1.2,
                   label=words.get(e.kind, e.kind) if e.kind not in seen else None)
        seen.add(e.kind)
    for k, g in enumerate(s["glitches"]):
        ax.plot(g["at_s"], 1.05 * buffer, "v", color="tab:red",
                label="glitch heard in the output" if k == 0 else None)
    if span is not None:
        ax.set_xlim(*span)
    ax.set_ylim(-0.1 * buffer, 1.2 * buffer)
    ax.set_xlabel("seconds into the signal")
    ax.set_ylabel("frames queued in the ring")


def plot(path: str, result: Result) -> None:
    """A timeline: the ring's fill, the DMA's progress, period interrupts, every injected
    fault and stall, xruns and glitches; a second panel zooms on the first glitch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figure(result, plt)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure(result: Result, plt):
    """The plot's figure (the test reads its artists)."""
    s = result.summary
    first = s["glitches"][0]["at_s"] if s["glitches"] else (
        result.seconds(result.events[0].at_ns) if result.events else None)
    rows = 2 if first is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(12, 4.5 * rows), squeeze=False)
    _timeline_axes(axes[0][0], result)
    found = ("output not matched to the input" if s["frames_lost"] is None else
             f"{plural(len(s['glitches']), 'glitch')}, "
             f"{plural(s['frames_lost'], 'frame')} lost")
    axes[0][0].set_title(f"{s['mode']} mode: {plural(s['xruns'], 'xrun')}, {found} (period "
                         f"{s['period_size']}, buffer {s['buffer_size']})")
    axes[0][0].legend(loc="upper right", fontsize=8, ncol=2)
    steady = steady_faults(result)
    if steady:  # faults with no one instant: said on the panel
        axes[0][0].text(0.01, 0.97, "throughout: " + ", ".join(steady),
                        transform=axes[0][0].transAxes, fontsize=8, va="top",
                        color="tab:olive")
    if first is not None:
        ring_s = s["buffer_size"] / result.rate
        _timeline_axes(axes[1][0], result, (first - 2 * ring_s, first + 2 * ring_s))
        axes[1][0].set_title(f"around the first {'glitch' if s['glitches'] else 'event'}, "
                             f"{first:.3f} s")
    fig.tight_layout()
    return fig


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
