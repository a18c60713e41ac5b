"""``dma-audio bench``: what it reports and that what it measures is right. No timing is
asserted here (benchmarks report, tests do not time); the figures must exist, be
consistent with each other, and come from runs whose output equalled their input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from demos import bench, jack
from demos.bench_worker import PERIODS, BareApp, bare_copy, floor_copy, signal
from demos.cli import main
from soc import compiled
from tests.servers import _unavailable

OFFLINE_KEYS = {"period_size", "x_realtime", "floor_ratio", "periods_per_s", "peak_mb",
                "build", "pure_build", "pure_x_realtime", "compiled_speedup",
                "skeleton_us_per_period", "skeleton_floor_ratio", "floor_us_per_period"}


@pytest.mark.parametrize("period", [64, 1000, 4096])
def test_floor_makes_every_copy_and_loses_nothing(period):
    data = signal(0.3)  # 14400 frames: not a whole number of 1000- or 4096-frame periods
    out = floor_copy(data, period)
    assert out.dtype == data.dtype and np.array_equal(out, data)
    assert not np.shares_memory(out, data)


@pytest.mark.parametrize("period, block", [(64, 256), (1024, 256), (1000, 256), (256, 1024)])
def test_bare_callback_copies_every_frame_whatever_its_block(period, block):
    """The bare callback makes the floor's copies a period slot at a time, whether the
    server's block is shorter or longer than a period; what PortAudio gets is the file."""
    data = signal(0.3)
    ring = np.zeros((period * PERIODS, 2), data.dtype)
    fifo = np.zeros((period, 2), data.dtype)
    blocks, pos = [], 0
    while pos < len(data):
        out = np.full((block, 2), np.nan, np.float32)
        pos = bare_copy(data, pos, ring, fifo, out)
        blocks.append(out)
    played = np.concatenate(blocks)
    assert pos == len(data) and not np.isnan(played).any()
    assert np.array_equal(played[: len(data)] * 32768, data.astype(np.float32))
    assert not played[len(data):].any()  # zeros after the end


@pytest.mark.parametrize("period, block", [(64, 256), (1024, 256), (1000, 256)])
def test_bare_app_plays_every_frame_and_interrupts_once_a_period(period, block):
    """The writer and the callback taking turns (on one thread here): every frame comes
    out once, in order; an "interrupt" for each period boundary the callback crosses."""
    data = signal(0.3)
    app = BareApp(data, period)
    while app.write_period():  # the prefill: a whole ring
        pass
    assert app.appl == min(period * PERIODS, len(data))
    blocks, interrupts = [], 0
    while app.hw < len(data):
        out = np.full((block, 2), np.nan, np.float32)
        interrupts += app.take(out)
        blocks.append(out)
        while app.write_period():
            pass
    played = np.concatenate(blocks)
    assert np.array_equal(played[: len(data)] * 32768, data.astype(np.float32))
    assert not played[len(data):].any() and app.underruns == 0
    ends = [min(k * block, len(data)) for k in range(len(blocks) + 1)]  # hw after each
    assert interrupts == sum(ends[k] // period != ends[k + 1] // period
                             for k in range(len(blocks)))
    assert interrupts >= len(data) // period // max(1, block // period)


def test_bare_app_counts_an_underrun_when_the_writer_is_late():
    app = BareApp(signal(0.1), 64)
    app.write_period()  # one period queued, the callback wants four
    out = np.full((256, 2), np.nan, np.float32)
    assert app.take(out) and app.underruns == 1
    assert np.array_equal(out[:64] * 32768, app.data[:64].astype(np.float32))
    assert not out[64:].any() and app.hw == 64


def test_signal_has_no_silent_frame():
    assert signal(1.0).any(axis=1).all()


def test_offline_and_dmatest_parts(tmp_path, capsys):
    js = tmp_path / "b.json"
    assert main(["bench", "--quick", "--parts", "offline,dmatest", "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    rows = doc["offline"]
    assert [r["period_size"] for r in rows] == [64, 256, 1024, 4096]
    for r in rows:
        assert OFFLINE_KEYS <= r.keys()
        # 2 s of audio is 96000 frames, then play's closing silence of at least the
        # FIFO (hw_params' fifo_size, 128 frames), in whole periods; an interrupt at every
        # LLI's end (amba-pl08x's cyclic rings), an LLI at most 4095 beats of one S16 frame
        periods = round(r["periods_per_s"] * r["seconds"])
        assert abs(periods - -(-(96000 + 128) // r["period_size"])) <= 1
        llis = -(-r["period_size"] // 4095)
        assert abs(round(r["irqs_per_s"] * r["seconds"]) - periods * llis) <= llis
        assert r["x_realtime"] == pytest.approx(2.0 / r["seconds"], rel=0.01)
        assert r["floor_ratio"] == pytest.approx(r["seconds"] / r["floor_seconds"], rel=0.02)
        assert len(r["stack_runs_s"]) == 3 and r["seconds"] == min(r["stack_runs_s"])
        assert len(r["pure_runs_s"]) == 3 and r["pure_seconds"] == min(r["pure_runs_s"])
        assert r["pure_build"] == "pure Python (DMA_AUDIO_PURE is set)"
        assert r["build"] == compiled.build()  # the suite's own build, whichever it is
        assert r["compiled_speedup"] == pytest.approx(r["pure_seconds"] / r["seconds"],
                                                      rel=0.02)
        assert r["floor_us_per_period"] > 0 and r["skeleton_us_per_period"] > 0
        # the PL330 board, compiled, beside it: the same periods, the same interrupts
        assert len(r["pl330_runs_s"]) == 3
        assert r["pl330_x_realtime"] == pytest.approx(2.0 / min(r["pl330_runs_s"]), rel=0.01)
        assert r["pl330_irqs_per_s"] * min(r["pl330_runs_s"]) == pytest.approx(periods, abs=2)
    assert doc["dmatest"]["tests"] == 300 and doc["dmatest"]["kbps"] > 0
    assert "realtime" not in doc
    out = capsys.readouterr()
    assert "offline, virtual clock" in out.out and "offline, period 1024:" in out.err


def test_a_missing_jackd_gives_null_parts_with_the_reason(monkeypatch):
    monkeypatch.setattr(jack.shutil, "which", lambda tool: None)
    doc = bench.run(True, ("realtime", "timing"), say=lambda s: None)
    assert doc["realtime"] is None and doc["timing_ms"] is None
    assert "jackd is not installed" in doc["realtime_reason"]
    assert doc["timing_ms_reason"] == doc["realtime_reason"]


@pytest.mark.parametrize("argv, words", [
    (["--parts", "offline,warp"], "unknown part warp"),
    (["--parts", ","], "unknown part (none)"),
    (["--json", "/no/such/dir/b.json"], "no such directory"),
])
def test_bad_options_one_line(argv, words, capsys):
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_realtime_and_timing_on_jack():
    """The bench starts its own private jackd (dummy backend, 48 kHz, period 256)."""
    if jack.jack_missing():
        _unavailable(jack.jack_missing())
    doc = bench.run(True, ("realtime", "timing"), say=lambda s: None)
    rt = doc["realtime"]
    assert rt is not None, doc.get("realtime_reason")
    assert {"cpu_ratio_vs_bare", "xruns", "bare_xruns", "min_period_no_xrun",
            "bare_min_period_no_xrun"} <= rt.keys()
    assert rt["cpu_ratio_vs_bare"] == pytest.approx(rt["cpu"] / rt["bare_cpu"], rel=0.02)
    assert len(rt["pairs"]) == 1  # --quick: one stack-and-bare pair
    assert rt["jack_realtime"] == jack.realtime_allowed()
    # the stack's threads at SCHED_FIFO under PortAudio's callback, where the server is
    assert rt["stack_rt_priority"] == (bench.STACK_RT_PRIORITY if rt["jack_realtime"]
                                       else None)
    assert rt["xruns"] == sum(p["xruns"] for p in rt["pairs"])
    assert rt["xruns"] == rt["pcm_xruns"] + rt["card_underflows"]
    # the bare stream is opened as the card's: a callback a server cycle, not a period
    # (the stack's card also runs through the lead and the drain)
    assert 0.6 * rt["callbacks"] <= rt["bare_callbacks"] <= rt["callbacks"]
    assert rt["cpu_ratio_vs_bare_period_blocks"] == pytest.approx(
        rt["cpu"] / rt["bare_cpu_period_blocks"], rel=0.02)
    assert rt["cpu_ratio_vs_bare_app"] == pytest.approx(
        rt["app_pair_cpu"] / rt["bare_app_cpu"], rel=0.02)
    assert rt["bare_app_xruns"] == sum(p["bare_app_xruns"] for p in rt["pairs"])
    # the stack's playback was paced: the pacer ran the period ends and their bottom halves
    assert rt["pacer_events"] > 0 and rt["bh_at_irq_exit"] > 0
    for who in ("", "bare_"):
        tried = rt[f"{who}xruns_by_period"]
        smallest = rt[f"{who}min_period_no_xrun"]
        if smallest is not None:  # the search stops at the first size without an xrun
            assert max(tried) == smallest and tried[smallest] == 0
            assert all(v > 0 for k, v in tried.items() if k < smallest)
    for size, kinds in rt["xrun_kinds_by_period"].items():
        assert sum(kinds.values()) == rt["xruns_by_period"][size]
    assert 3000 < doc["timing_ms"] < 5000  # 4 s of audio, drained: plausibility, not a goal


def test_bare_app_on_jack_plays_the_whole_file_with_its_threads():
    if jack.jack_missing():
        _unavailable(jack.jack_missing())
    with jack.JackServer("bench-app") as server:
        r = bench.job("rt-bare-app", server.env, device=server.device, period=256,
                      seconds=1.0)
    assert r["frames"] == 48000  # an underrun delays frames, it loses none
    # a period a server cycle: the interrupt thread woke for most of them (two that come
    # while it is still awake make one wake-up), never for more
    assert 0.25 * 48000 / 256 <= r["interrupts"] <= 48000 / 256 + 1
    assert r["callbacks"] >= 48000 / 256


def test_realtime_reports_the_median_pair_and_every_xrun(monkeypatch):
    """Three stack-and-bare pairs back to back (scripted jobs, not timed): the ratio is
    the median pair's, each pair is kept, and xruns add up over all of them."""
    stack_cpu, bare_cpu = iter([0.030, 0.036, 0.020]), iter([0.012, 0.012, 0.016])
    xruns = iter([0, 2, 1])
    app_cpu = iter([0.015, 0.024, 0.020])

    def job(kind, env=None, **kw):
        if kind == "rt-stack":
            x = next(xruns) if kw["period"] == 1024 else 0
            return {"cpu_s": next(stack_cpu) if kw["period"] == 1024 else 0.0, "wall_s": 1.0,
                    "xruns": x, "pcm_xruns": x, "card_underflows": 0, "callbacks": 190,
                    "pacer_events": 47, "catch_ups": 0, "bh_at_irq_exit": 47,
                    "bh_on_worker": 0}
        if kind == "rt-bare-app":
            return {"cpu_s": next(app_cpu), "wall_s": 1.0, "xruns": 1, "callbacks": 187}
        if kw.get("blocksize"):
            return {"cpu_s": 0.008, "wall_s": 1.0, "xruns": 0, "callbacks": 47}
        cpu = next(bare_cpu) if kw["period"] == 1024 else 0.0
        return {"cpu_s": cpu, "wall_s": 1.0, "xruns": 0, "callbacks": 187}

    monkeypatch.setattr(bench, "job", job)
    server = type("S", (), {"device": 0, "env": {}, "realtime": True})()
    rt = bench.realtime(server, 1.0, sizes=(64,), say=lambda s: None)
    assert [p["ratio"] for p in rt["pairs"]] == [2.5, 3.0, 1.25]
    assert rt["cpu_ratio_vs_bare"] == 2.5 and rt["cpu"] == 0.030  # the median pair
    assert rt["xruns"] == rt["pcm_xruns"] == 3 and rt["bare_xruns"] == 0
    assert rt["cpu_ratio_vs_bare_period_blocks"] == 3.75  # 3.0% against 0.8%
    # the bare with an application's threads: the median of its own ratio (not the pair
    # that is the median against the bare callback), xruns summed
    assert [p["ratio_vs_bare_app"] for p in rt["pairs"]] == [2.0, 1.5, 1.0]
    assert rt["cpu_ratio_vs_bare_app"] == 1.5
    assert rt["app_pair_cpu"] == 0.036 and rt["bare_app_cpu"] == 0.024
    assert rt["bare_app_xruns"] == 3
    assert rt["xrun_kinds_by_period"] == {64: {"pcm_xruns": 0, "card_underflows": 0}}


def test_the_memory_part_prints_each_commands_peak_for_both_inputs(monkeypatch):
    """Each command's peak for a short and a longer input, each within the goal of the
    other (every command reads, writes and analyses a block at a time)."""
    rows = bench.memory(30, 5, say=lambda s: None)
    assert [r["command"] for r in rows] == ["play", "capture", "stress", "loopback"]
    for r in rows:
        assert r["peak_mb_5s"] > 10 and r["peak_mb_30s"] > 10
        assert r["growth_mb"] == pytest.approx(r["peak_mb_30s"] - r["peak_mb_5s"], abs=0.11)
        assert r["growth_mb"] <= bench.MEMORY_GOAL_MB, r
