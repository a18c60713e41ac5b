"""``dma-audio bench``: what the stack costs, measured beside what it cannot beat.

Counterpart: none in the kernel; the parts, their floors and the JSON are described in
docs/design-notes.md, the latest run in docs/bench/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from demos.jack import JackError, JackServer
from demos.usage import UsageError

ROOT = Path(__file__).resolve().parent.parent
PERIOD_SIZES = (64, 256, 1024, 4096)
SEARCH_SIZES = (64, 128, 256, 512, 1024, 2048)
PARTS = ("offline", "realtime", "timing", "dmatest", "memory")
HOGS = 2  # CPU hogs (spinning processes) beside the second search for the smallest clean period
MEMORY_GOAL_MB = 20  # peak RSS may grow this much from the short input to the long one
JACK_NAME = "dma-audio-bench"
# SCHED_FIFO priority of the stack's threads (and the bare application's) where the JACK
# server runs real-time: one under PortAudio's callback thread (JACK gives its clients'
# process threads the server's priority less 5: 10 - 5), so the card's callback is never
# kept waiting by them, as a low-latency client sets its own threads.
STACK_RT_PRIORITY = 4


class JobError(RuntimeError):
    """A measurement process failed; the message is its last line of error."""


def job(kind: str, env: dict | None = None, timeout: float = 600, **kw: Any) -> dict:
    """Run one :mod:`demos.bench_worker` job in a process of its own."""
    proc = subprocess.run([sys.executable, "-m", "demos.bench_worker", kind, json.dumps(kw)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise JobError(f"{kind}: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- 1. offline --


PURE = {**os.environ, "DMA_AUDIO_PURE": "1"}


def offline(seconds: float, sizes=PERIOD_SIZES, runs: int = 3, say=print) -> list[dict]:
    """Each size: the stack ``runs`` times in each build on the PL080 board and compiled
    on the PL330 board (a process each, interleaved), the floor and the skeleton (each
    best of three in one process); the best run of each against the best floor, as
    timeit reports, with every run's time beside it and the peak memory of the largest."""
    rows = []
    for size in sizes:
        tries: list[dict] = []
        pure_tries: list[dict] = []
        pl330_tries: list[dict] = []
        for _ in range(runs):
            tries.append(job("stack", period=size, seconds=seconds))
            pure_tries.append(job("stack", PURE, period=size, seconds=seconds))
            pl330_tries.append(job("stack", period=size, seconds=seconds, dmac="pl330"))
        f = job("floor", period=size, seconds=seconds)
        k = job("skeleton", period=size, seconds=seconds)
        runs_exact = [t["exact"] for t in tries + pure_tries + pl330_tries]
        if not (all(runs_exact) and f["exact"] and k["exact"]):
            raise JobError(f"period {size}: the output is not the input (stack exact: "
                           f"{runs_exact}, floor: {f['exact']}, skeleton: {k['exact']})")
        s = min(tries, key=lambda t: t["seconds"])
        p = min(pure_tries, key=lambda t: t["seconds"])
        q = min(pl330_tries, key=lambda t: t["seconds"])
        per = s["periods"]
        rows.append({"period_size": size, "build": s["build"],
                     "x_realtime": round(seconds / s["seconds"], 1),
                     "floor_ratio": round(s["seconds"] / f["seconds"], 1),
                     "periods_per_s": round(per / s["seconds"]),
                     "irqs_per_s": round(s["irqs"] / s["seconds"]),
                     "us_per_period": round(s["seconds"] / per * 1e6, 2),
                     "pure_build": p["build"],
                     "pure_x_realtime": round(seconds / p["seconds"], 1),
                     "pure_periods_per_s": round(per / p["seconds"]),
                     "pure_us_per_period": round(p["seconds"] / per * 1e6, 2),
                     "pure_floor_ratio": round(p["seconds"] / f["seconds"], 1),
                     "compiled_speedup": round(p["seconds"] / s["seconds"], 2),
                     "pl330_x_realtime": round(seconds / q["seconds"], 1),
                     "pl330_us_per_period": round(q["seconds"] / q["periods"] * 1e6, 2),
                     "pl330_irqs_per_s": round(q["irqs"] / q["seconds"]),
                     "skeleton_us_per_period": round(k["seconds"] / per * 1e6, 2),
                     "skeleton_floor_ratio": round(k["seconds"] / f["seconds"], 1),
                     "floor_us_per_period": round(f["seconds"] / per * 1e6, 3),
                     "peak_mb": round(max(t["maxrss_mb"] for t in tries + pure_tries), 1),
                     "seconds": round(s["seconds"], 6), "pure_seconds": round(p["seconds"], 6),
                     "floor_seconds": round(f["seconds"], 7),
                     "skeleton_seconds": round(k["seconds"], 7),
                     "floor_x_realtime": round(seconds / f["seconds"], 1),
                     "stack_runs_s": [round(t["seconds"], 6) for t in tries],
                     "pure_runs_s": [round(t["seconds"], 6) for t in pure_tries],
                     "pl330_runs_s": [round(t["seconds"], 6) for t in pl330_tries]})
        r = rows[-1]
        say(f"offline, period {size}: {r['x_realtime']}x real time ({r['build']}), "
            f"{r['pure_x_realtime']}x pure Python, {r['pl330_x_realtime']}x on the PL330; "
            f"{r['floor_ratio']}x the floor, "
            f"the skeleton {r['skeleton_floor_ratio']}x")
    return rows


# -- 2 and 3. real time on JACK --


def realtime(server: JackServer, seconds: float, period: int = 1024, rounds: int = 3,
             sizes=SEARCH_SIZES, say=print) -> dict:
    dev, env = server.device, server.env
    prio = STACK_RT_PRIORITY if server.realtime else None
    runs = []  # (stack's figures, the pair's), stack and bare back to back
    for _ in range(rounds):
        s = job("rt-stack", env, device=dev, period=period, seconds=seconds, rt_priority=prio)
        b = job("rt-bare", env, device=dev, period=period, seconds=seconds)
        a = job("rt-bare-app", env, device=dev, period=period, seconds=seconds,
                rt_priority=prio)
        cpu, bare_cpu = s["cpu_s"] / s["wall_s"], b["cpu_s"] / b["wall_s"]
        app_cpu = a["cpu_s"] / a["wall_s"]
        runs.append((s, {"cpu": round(cpu, 4), "bare_cpu": round(bare_cpu, 4),
                         "bare_callbacks": b["callbacks"],
                         "ratio": round(cpu / bare_cpu, 2) if bare_cpu else None,
                         "bare_app_cpu": round(app_cpu, 4),
                         "ratio_vs_bare_app": round(cpu / app_cpu, 2) if app_cpu else None,
                         "xruns": s["xruns"], "pcm_xruns": s["pcm_xruns"],
                         "card_underflows": s["card_underflows"], "bare_xruns": b["xruns"],
                         "bare_app_xruns": a["xruns"]}))
        say(f"real time, period {period}: stack CPU {cpu:.1%} ({s['callbacks']} callbacks), "
            f"bare {bare_cpu:.1%} ({b['callbacks']} callbacks), bare with an application's "
            f"threads {app_cpu:.1%}; xruns {s['xruns']} ({s['pcm_xruns']} PCM, "
            f"{s['card_underflows']} PortAudio underflows), {b['xruns']} and {a['xruns']}; "
            f"pacer catch-ups {s['catch_ups']}")
    pairs = [pair for _, pair in runs]
    s, mid = sorted(runs, key=lambda r: r[1]["ratio"] or 0.0)[len(runs) // 2]  # the median
    app = sorted(pairs, key=lambda p: p["ratio_vs_bare_app"] or 0.0)[len(pairs) // 2]
    cpu, bare_cpu = mid["cpu"], mid["bare_cpu"]
    bp = job("rt-bare", env, device=dev, period=period, seconds=seconds, blocksize=period)
    bare_cpu_pb = bp["cpu_s"] / bp["wall_s"]
    say(f"real time, bare, one callback a period: {bare_cpu_pb:.1%} ({bp['callbacks']} "
        "callbacks)")
    found: dict[str, int | None] = {}
    tried: dict[str, dict[int, int]] = {}
    kinds: dict[int, dict[str, int]] = {}
    for hogs in (0, HOGS):
        for who, kind in (("stack", "rt-stack"), ("bare", "rt-bare")):
            key = who + (f"_hogs{hogs}" if hogs else "")
            found[key], tried[key] = None, {}
            for size in sizes:
                more = {"rt_priority": prio} if who == "stack" else {}
                r = job(kind, env, device=dev, period=size, seconds=seconds, hogs=hogs,
                        **more)
                tried[key][size] = r["xruns"]
                if key == "stack":  # which kind: the PCM's underruns or the underflows
                    kinds[size] = {"pcm_xruns": r["pcm_xruns"],
                                   "card_underflows": r["card_underflows"]}
                say(f"real time, {who}{f', {hogs} CPU hogs' if hogs else ''}, period "
                    f"{size}: {r['xruns']} xruns"
                    + (f" ({r['pcm_xruns']} PCM, {r['card_underflows']} PortAudio "
                       "underflows)" if who == "stack" else ""))
                if r["xruns"] == 0:
                    found[key] = size
                    break
    return {"cpu_ratio_vs_bare": mid["ratio"],
            "xruns": sum(p["xruns"] for p in pairs),
            "bare_xruns": sum(p["bare_xruns"] for p in pairs), "pairs": pairs,
            "app_pair_cpu": app["cpu"], "bare_app_cpu": app["bare_app_cpu"],
            "cpu_ratio_vs_bare_app": app["ratio_vs_bare_app"],
            "bare_app_xruns": sum(p["bare_app_xruns"] for p in pairs),
            "pcm_xruns": sum(p["pcm_xruns"] for p in pairs),
            "card_underflows": sum(p["card_underflows"] for p in pairs),
            "pacer_events": s["pacer_events"], "catch_ups": s["catch_ups"],
            "bh_at_irq_exit": s["bh_at_irq_exit"], "bh_on_worker": s["bh_on_worker"],
            "min_period_no_xrun": found["stack"], "bare_min_period_no_xrun": found["bare"],
            "hogs": HOGS, "min_period_no_xrun_hogs": found[f"stack_hogs{HOGS}"],
            "bare_min_period_no_xrun_hogs": found[f"bare_hogs{HOGS}"],
            "xruns_by_period_hogs": tried[f"stack_hogs{HOGS}"],
            "bare_xruns_by_period_hogs": tried[f"bare_hogs{HOGS}"],
            "cpu": round(cpu, 4), "bare_cpu": round(bare_cpu, 4), "period_size": period,
            "callbacks": s["callbacks"], "bare_callbacks": mid["bare_callbacks"],
            "bare_cpu_period_blocks": round(bare_cpu_pb, 4),
            "cpu_ratio_vs_bare_period_blocks": (round(cpu / bare_cpu_pb, 2) if bare_cpu_pb
                                                else None),
            "seconds": seconds, "jack_realtime": server.realtime, "stack_rt_priority": prio,
            "xruns_by_period": tried["stack"],
            "xrun_kinds_by_period": kinds,
            "bare_xruns_by_period": tried["bare"]}


# -- 4. dmatest --


def dmatest_figures(iterations: int) -> dict:
    from dma.dmatest import DmatestParams, dmatest
    from soc.board import make_board

    board = make_board()
    board.populate()
    try:
        _, r = dmatest(DmatestParams(iterations=iterations), board.soc.clock.run_until_true,
                       log=lambda s: None)
    finally:
        board.remove()
    if r.failures:
        raise JobError(f"dmatest: {r.failures} failures")
    return {"kbps": r.kbps, "iops": round(r.iops, 1), "tests": r.tests}


# -- 5. memory --


def memory(long_s: int, short_s: int = 10, say=print) -> list[dict]:
    """Each command's peak RSS for a ``short_s`` and a ``long_s`` input."""
    import tempfile

    import numpy as np
    import soundfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for secs in (short_s, long_s):
            files[secs] = f"{tmp}/in{secs}.wav"
            rng = np.random.default_rng(secs)
            with soundfile.SoundFile(files[secs], "w", 48000, 2, "PCM_16") as f:
                for _ in range(secs):
                    f.write(rng.integers(-30000, 30000, (48000, 2)).astype("<i2"))
        for cmd in ("play", "capture", "stress", "loopback"):
            row: dict[str, Any] = {"command": cmd}
            for secs in (short_s, long_s):
                argv = {
                    "play": ["play", "-D", "virtual", "--clock", "virtual", "--no-progress",
                             files[secs], "--tap", f"{tmp}/tap.wav"],
                    "capture": ["capture", f"{tmp}/cap.wav", "-d", str(secs), "--source",
                                files[secs], "--clock", "virtual", "--no-progress"],
                    "stress": ["stress", files[secs], "--json", f"{tmp}/s.json", "--tap",
                               f"{tmp}/tap.wav"],
                    "loopback": ["loopback", "--seconds", str(secs), "--clock", "virtual",
                                 "--no-progress"],
                }[cmd]
                row[f"peak_mb_{secs}s"] = round(job("rss", argv=argv, timeout=1800)
                                                ["peak_mb"], 1)
            row["growth_mb"] = round(row[f"peak_mb_{long_s}s"] - row[f"peak_mb_{short_s}s"], 1)
            rows.append(row)
            say(f"memory, {cmd}: {row[f'peak_mb_{short_s}s']} MB for {short_s} s, "
                f"{row[f'peak_mb_{long_s}s']} MB for {long_s} s")
    return rows


# -- the run --


def run(quick: bool, parts: tuple[str, ...] = PARTS, say=print) -> dict:
    """All the asked-for parts; a part that cannot run is None with ``<part>_reason``."""
    doc: dict[str, Any] = {"quick": quick}
    if "offline" in parts:
        doc["offline"] = offline(2.0 if quick else 60.0, say=say)
    if "dmatest" in parts:
        doc["dmatest"] = dmatest_figures(300 if quick else 3000)
    if "memory" in parts:
        doc["memory"] = memory(60 if quick else 600, say=say)
    rt_parts = [p for p in ("realtime", "timing") if p in parts]
    if rt_parts:
        why = None
        try:
            with JackServer(JACK_NAME) as server:
                if "realtime" in parts:
                    doc["realtime"] = realtime(server, 3.0 if quick else 30.0,
                                               rounds=1 if quick else 3, say=say)
                if "timing" in parts:
                    doc["timing_ms"] = round(job("timing", server.env,
                                                 device=server.device)["ms"], 1)
        except (JackError, JobError) as e:
            why = str(e)
        for p in rt_parts:
            key = "timing_ms" if p == "timing" else p
            if key not in doc:
                doc[key] = None
                doc[f"{key}_reason"] = why or "not run"
    return doc


def tables(doc: dict) -> list[Any]:
    from rich.table import Table

    out = []
    if doc.get("offline"):
        first = doc["offline"][0]
        o = Table(title="offline, virtual clock: 48 kHz S16_LE stereo, 4 periods; "
                  f"compiled: {first.get('build', '?')}", header_style="bold")
        for col in ("period", "x real time", "periods/s", "µs/period", "pure: x real time",
                    "pure: µs/period", "compiled speed-up", "PL330: x real time",
                    "PL330: µs/period", "x the floor", "skeleton µs", "skeleton x floor",
                    "floor µs", "peak MB", "goal (compiled)"):
            o.add_column(col, justify="right")
        for r in doc["offline"]:
            p = r["period_size"]
            goal = {64: ">= 20000 periods/s", 1024: ">= 1000x"}.get(p, "")
            o.add_row(str(p), f"{r['x_realtime']}", f"{r['periods_per_s']}",
                      f"{r.get('us_per_period', '')}", f"{r.get('pure_x_realtime', '')}",
                      f"{r.get('pure_us_per_period', '')}", f"{r.get('compiled_speedup', '')}",
                      f"{r.get('pl330_x_realtime', '')}", f"{r.get('pl330_us_per_period', '')}",
                      f"{r['floor_ratio']}", f"{r.get('skeleton_us_per_period', '')}",
                      f"{r.get('skeleton_floor_ratio', '')}",
                      f"{r.get('floor_us_per_period', '')}", f"{r['peak_mb']}", goal)
        out.append(o)
    if doc.get("memory"):
        m = Table(title="memory: peak RSS, virtual clock, 48 kHz S16_LE stereo input",
                  header_style="bold")
        keys = [k for k in doc["memory"][0] if k.startswith("peak_mb_")]
        for col in ("command", *(f"{k[8:-1]} s input, MB" for k in keys), "growth, MB",
                    "goal"):
            m.add_column(col, justify="right")
        for r in doc["memory"]:
            m.add_row(r["command"], *(f"{r[k]}" for k in keys), f"{r['growth_mb']}",
                      f"<= {MEMORY_GOAL_MB}")
        out.append(m)
    t = Table(title="real time, timing, dmatest", header_style="bold")
    t.add_column("what")
    t.add_column("measured", justify="right")
    t.add_column("goal", justify="right")
    rt = doc.get("realtime")
    if rt:
        t.add_row("JACK server's scheduling", "real-time (SCHED_FIFO)"
                  if rt.get("jack_realtime") else "not real-time (not allowed here)", "")
        prio = rt.get("stack_rt_priority")
        t.add_row("the stack's threads (and the bare application's)",
                  f"SCHED_FIFO {prio}" if prio else "normal (SCHED_OTHER)", "")
        t.add_row(f"JACK, period {rt['period_size']}: CPU, stack / bare",
                  f"{rt['cpu']:.1%} / {rt['bare_cpu']:.1%} = {rt['cpu_ratio_vs_bare']}x", "")
        t.add_row("  against a bare callback of a whole period",
                  f"{rt['cpu']:.1%} / {rt['bare_cpu_period_blocks']:.1%} = "
                  f"{rt['cpu_ratio_vs_bare_period_blocks']}x", "")
        t.add_row("  against the bare copies with an application's threads (median "
                  "pair of that ratio)",
                  f"{rt.get('app_pair_cpu', rt['cpu']):.1%} / {rt['bare_app_cpu']:.1%} = "
                  f"{rt['cpu_ratio_vs_bare_app']}x", "<= 1.5x")
        t.add_row("JACK: xruns, stack / bare", f"{rt['xruns']} / {rt['bare_xruns']}", "0 / 0")
        t.add_row("JACK: smallest period with no xrun, stack / bare",
                  f"{rt['min_period_no_xrun']} / {rt['bare_min_period_no_xrun']}", "same")
        if "min_period_no_xrun_hogs" in rt:
            t.add_row(f"  with {rt['hogs']} CPU hogs, stack / bare",
                      f"{rt['min_period_no_xrun_hogs']} / "
                      f"{rt['bare_min_period_no_xrun_hogs']}", "same")
    elif "realtime" in doc:
        t.add_row("JACK real time", f"not run: {doc.get('realtime_reason')}", "")
    if doc.get("timing_ms") is not None:
        t.add_row("kselftest timing, 4 s writei + drain", f"{doc['timing_ms']} ms",
                  "4000 +- 20 ms")
    elif "timing_ms" in doc:
        t.add_row("kselftest timing", f"not run: {doc.get('timing_ms_reason')}", "")
    if doc.get("dmatest"):
        d = doc["dmatest"]
        t.add_row("dmatest memcpy", f"{d['kbps']} KB/s, {d['iops']} iops", "")
    if t.row_count:
        out.append(t)
    return out


def machine() -> dict:
    """Where the figures come from: the commit, the processor, the cores, Python."""
    import os
    import platform

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"commit": commit or "unknown", "cpu": cpu or "unknown",
            "cores": os.cpu_count(), "python": platform.python_version()}


def bench_command(args: Any, say) -> int:
    from rich.console import Console

    from demos.outputs import check_output

    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise UsageError(f"bench: unknown part {','.join(bad) or '(none)'}; "
                         f"parts are {','.join(PARTS)}")
    if args.json:
        check_output(args.json)
    try:
        doc = run(args.quick, parts, say)
    except JobError as e:
        say(f"dma-audio: bench: {e}")
        return 1
    doc["machine"] = machine()
    console = Console()
    console.print(f"{doc['machine']['commit']} on {doc['machine']['cpu']}, "
                  f"{doc['machine']['cores']} cores, Python {doc['machine']['python']}")
    for t in tables(doc):
        console.print(t)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 0
