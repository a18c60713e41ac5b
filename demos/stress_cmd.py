"""``dma-audio stress`` from the command line: options to a fault plan, runs, reports."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from demos.stress import Faults, Stress, Window
from demos.stress_source import Glide
from demos.usage import UsageError


def _faults(args: Any, duration: float, realtime: bool) -> Faults:
    f = Faults(
        stalls=[Window.parse(t, "--stall") for t in args.stall],
        jitter_ms=args.jitter,
        seed=args.seed,
        hogs=args.hog,
        irq_latency_ms=args.irq_latency,
        lose_irqs=args.lose_irqs,
        bus_error_at=args.bus_error,
        dma_starve=[Window.parse(t, "--dma-starve") for t in args.dma_starve],
        unplug_at=args.unplug,
    )
    f.check(duration, realtime)
    return f


def _input(args: Any) -> tuple[Any, str]:
    """What stress plays, read by range: the generated glide, or the file."""
    rate, ch = args.rate or 48000, args.channels or 2
    if args.input is None:
        seconds = args.duration or 10.0
        g = Glide(rate, ch, seconds, args.seed + 1)
        return g, g.name
    from demos.stress_source import FileSource

    try:
        src = FileSource(args.input)
    except ValueError as e:
        raise UsageError(str(e)) from None
    limit = None if not args.duration else int(round(args.duration * src.rate))
    whole = src.length
    src.length = whole if limit is None else min(whole, limit)
    if not src.length:
        src.close()
        raise UsageError(f"{args.input}: no frames to play")
    if limit is not None and whole < limit:
        src.close()
        raise UsageError(f"--duration {args.duration:g} is longer than {args.input} "
                         f"({whole / src.rate:g} s)")
    return src, args.input


def _random_stalls(f: Faults, n: int, duration: float, buffer_s: float, seed: int,
                   say) -> None:
    """``n`` seeded stalls of 0.5 to 2 buffer times, in the middle 80 % of the run, a
    buffer time apart; as many as fit, and a line where fewer than ``n`` do."""
    rng = np.random.default_rng(seed + 2)
    placed: list[Window] = []
    tries = 0
    fit = int(0.8 * duration / (1.5 * buffer_s)) + 1  # more cannot fit a buffer apart
    while len(placed) < n and tries < 100 * max(min(n, fit), 1):
        tries += 1
        dur = float(rng.uniform(0.5, 2.0) * buffer_s)
        if 0.9 * duration - dur <= 0.1 * duration:
            continue  # no room in this run for a stall that long
        at = float(rng.uniform(0.1 * duration, 0.9 * duration - dur))
        if any(at < w.at + w.duration + buffer_s and w.at < at + dur + buffer_s
               for w in placed + f.stalls):
            continue
        placed.append(Window(round(at, 4), round(dur, 4)))
    if len(placed) < n:
        say(f"--random-stalls {n}: {len(placed)} fit in {duration:g} s (a buffer time "
            "apart, in the middle 80 % of the run)")
    f.stalls = sorted(f.stalls + placed, key=lambda w: w.at)


def _check_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--sweep {text!r}: expected period sizes such as 64,256,1024") from None
    if not sizes or min(sizes) <= 0:
        raise UsageError(f"--sweep {text!r}: period sizes must be positive")
    return sizes


def stress_command(args: Any, say) -> int:
    from demos.outputs import check_output, check_plot
    from demos.session import open_session

    for path in (args.tap, args.json, args.plot, args.trace, args.trace_json):
        if path is not None:
            check_output(path, (args.input,) if args.input else ())
    if args.plot:
        check_plot(args.plot)
    sizes = _check_sizes(args.sweep) if args.sweep else None
    clock = args.clock or ("virtual" if args.device in (None, "virtual") else "card")
    src, name = _input(args)
    try:
        duration = src.length / src.rate
        faults = _faults(args, duration, clock != "virtual")
        sess = open_session(args.device or "virtual", clock, tap=True, dmac=args.dmac,
                            speed=args.speed,
                            loop=bool(args.duplex) and args.device in (None, "virtual"))
        try:
            if args.trace or args.trace_json:
                sess.trace_to(args.trace, args.trace_json)
            say(f"Sink: {sess.endpoint.describe()} ({sess.why}); clock: {sess.clock_kind}")
            say(f"Stress: {name}, {args.on_xrun} mode")
            if sizes:
                return _sweep(sess, src, args, faults, sizes, say)
            return _one(sess, src, args, faults, duration, say)
        finally:
            sess.close()
    finally:
        src.close()


def _one(sess, src: Any, args: Any, faults: Faults, duration: float, say) -> int:
    from rich.console import Console

    from demos import stress_report as report
    from demos.play import TapWriter

    tap = TapWriter(args.tap, say, src.length + src.rate) if args.tap else None
    try:
        runner = Stress(sess, src, args, faults, say, tap)
        if args.random_stalls:
            runner.before_start = lambda rt: _random_stalls(
                faults, args.random_stalls, duration, rt.buffer_size / rt.rate, args.seed,
                say)
        result = runner.run()  # Ctrl-C and SIGTERM end it early, with a report all the same
    finally:
        if tap is not None:
            tap.close()
    s = result.summary
    report.show(result, Console(stderr=True))
    if args.json:
        report.write_json(args.json, result, getattr(args, "command_line", None),
                          input_name=args.input or src.name)
    if args.plot:
        report.plot(args.plot, result)
    if runner.interrupted is not None:
        raise runner.interrupted  # saved: now end as the signal says
    return 1 if s["ended_by"].startswith("sound device lost") else 0


def _sweep(sess, src: Any, args: Any, faults: Faults, sizes: list[int], say) -> int:
    import json

    from rich.console import Console

    from demos import stress_report as report

    rows = []
    for size in sizes:
        a = copy.copy(args)
        a.period_size, a.buffer_size, a.periods = size, None, args.periods or 4
        result = Stress(sess, src, a, copy.deepcopy(faults), lambda text: None).run()
        s = result.summary
        rows.append({"period_size": s["period_size"], "buffer_size": s["buffer_size"],
                     "latency_ms": s["buffer_size"] * 1000 / s["rate"],
                     "periods_per_s": s["rate"] / s["period_size"], "xruns": s["xruns"],
                     "glitches": len(s["glitches"]), "frames_lost": s["frames_lost"],
                     "glitches_unexplained": s["glitches_unexplained"],
                     "xruns_without_glitch": s["xruns_without_glitch"],
                     "cpu_per_audio_s": s["cpu_per_audio_s"]})
        say(f"period {size}: {s['xruns']} xruns, {len(s['glitches'])} glitches")
    Console(stderr=True).print(report.sweep_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sweep": rows}, f, indent=1)
    if args.plot:
        report.sweep_plot(args.plot, rows)
    return 0
