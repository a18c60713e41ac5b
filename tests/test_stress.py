"""`dma-audio stress` on the virtual clock: xruns and lost frames exactly as the buffer
geometry predicts, and the output exactly the input with the gap each mode prescribes.

The expectations are computed here from the geometry alone, not from the code under test:

- the I2S TX FIFO is 16 frames deep with its trigger at TFCR = 7 frames; the DMA moves
  bursts of 16 beats of 2 bytes (8 stereo S16 frames) whenever the level is at or below
  the trigger. So after the card has played ``p`` frames the DMA has fetched
  ``D(p) = 8 * ((p + 7) // 8 + 1)`` frames, and the period interrupt for period ``k``
  fires when the card has played ``k * P - L`` frames, ``L = 7 + 8 = 15`` (the FIFO level
  right after the burst that ends the period).
- the writer keeps the ring full: it writes ``B`` frames at the start and a period at each
  interrupt, so at a stall starting when ``p_at`` frames were played it has written
  ``A = B + P * ((p_at + L) // P)`` frames.
- stop mode: the ring runs dry at the interrupt for ``A``, when the card has played
  ``A - L`` frames; the stream stops there, the FIFO's ``L`` frames never play, and the
  writer restarts the stream with a full ring when the stall ends, at card frame ``r``.
- run mode: the DMA goes on round the ring, replaying the last lap, until the writer comes
  back at ``r`` and forwards to the DMA, which has fetched ``D(r)`` frames; silence mode
  replays zeros instead.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import wavfile

from demos.cli import main
from demos.glitches import analyse
from demos.stress import stress_signal

RATE = 48000
FIFO_TRIGGER, BURST = 7, 8  # frames, for S16_LE stereo
L = FIFO_TRIGGER + BURST


def fetched(p: int) -> int:
    return BURST * ((p + FIFO_TRIGGER) // BURST + 1)


def written_at(p_at: int, period: int, buffer: int) -> int:
    return buffer + period * ((p_at + L) // period)


def frame(t: float) -> int:
    return int(round(t * 1e9)) * RATE // 1_000_000_000


def _run(tmp_path, *args: str) -> tuple[dict, np.ndarray, np.ndarray]:
    js, tap = tmp_path / "s.json", tmp_path / "tap.wav"
    rc = main(["stress", "--duration", "2", "--json", str(js), "--tap", str(tap), *args])
    assert rc == 0
    _, out = wavfile.read(tap)
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
    signal = stress_signal(RATE, 2, 2.0, seed + 1)
    return json.loads(js.read_text()), out.reshape(len(out), -1), signal


def _same(out: np.ndarray, expect: np.ndarray) -> None:
    assert len(out) >= len(expect), f"output {len(out)} frames, expected {len(expect)}"
    bad = np.nonzero(np.any(out[: len(expect)] != expect, axis=1))[0]
    assert bad.size == 0, f"{bad.size} frames differ, first at {bad[0]}"
    assert not out[len(expect) :].any(), "after the data: silence"


@pytest.mark.parametrize("period,periods", [(1024, 4), (256, 8)])
def test_stall_longer_than_the_queue_xruns_exactly_where_geometry_says(tmp_path, period,
                                                                         periods):
    buffer = period * periods
    at = 0.5003
    p_at = frame(at)
    a = written_at(p_at, period, buffer)
    dry = a - L  # the card frame at which the interrupt finds the ring empty
    dur = (dry - p_at) / RATE + 0.05  # 50 ms longer than the queue lasts
    s, out, inp = _run(tmp_path, "--period-size", str(period), "--periods", str(periods),
                       "--stall", f"{at}:{dur}")
    r = frame(at + dur)
    expect = np.concatenate([inp[:dry], np.zeros((r - dry, 2), np.int16), inp[a:]])
    _same(out, expect)
    assert (s["xruns"], s["frames_lost"], s["recoveries"]) == (1, L, 1)
    assert [(g["at_frame"], g["kind"], g["inserted"], g["lost"]) for g in s["glitches"]] == [
        (dry, "silence", r - dry, L)]
    assert s["glitches_unexplained"] == 0 and s["xruns_without_glitch"] == 0
    assert s["events"][0]["kind"] == "xrun"
    assert s["events"][0]["frame"] == dry


def test_stall_shorter_than_the_queue_does_not_xrun(tmp_path):
    period, buffer, at = 1024, 4096, 0.7001
    p_at = frame(at)
    dry = written_at(p_at, period, buffer) - L
    dur = (dry - p_at) / RATE - 0.005  # back 5 ms before the ring runs dry
    s, out, inp = _run(tmp_path, "--period-size", "1024", "--periods", "4",
                       "--stall", f"{at}:{dur}")
    _same(out, inp)
    assert (s["xruns"], s["frames_lost"], s["glitches"]) == (0, 0, [])
    assert s["frames_played"] == s["frames_written"] == len(inp)


@pytest.mark.parametrize("mode", ["run", "silence"])
def test_free_running_replays_the_stale_ring_or_silence(tmp_path, mode):
    period, buffer, at, dur = 512, 2048, 0.9002, 0.3
    a = written_at(frame(at), period, buffer)
    back = fetched(frame(at + dur))  # where the DMA is when the writer forwards to it
    j = np.arange(a, back)
    s, out, inp = _run(tmp_path, "--period-size", str(period), "--periods", "4",
                       "--stall", f"{at}:{dur}", "--on-xrun", mode)
    if mode == "run":
        gap = inp[a - buffer + (j - a) % buffer]
    else:
        gap = np.zeros((len(j), 2), np.int16)
    expect = np.concatenate([inp[:a], gap, inp[a:]])
    _same(out, expect)
    assert (s["xruns"], s["frames_lost"], s["recoveries"]) == (1, 0, 1)
    kind = "stale" if mode == "run" else "silence"
    assert [(g["at_frame"], g["kind"], g["inserted"], g["lost"]) for g in s["glitches"]] == [
        (a, kind, back - a, 0)]
    assert s["events"][0]["kind"] == "underrun"


def test_several_stalls_each_counted(tmp_path):
    s, out, inp = _run(tmp_path, "--period-size", "256", "--periods", "4",
                       "--stall", "0.3:0.1", "--stall", "0.9:0.05", "--stall", "1.5:0.005")
    # 256 x 4 frames last 21 ms: the first two stalls xrun, the 5 ms one does not
    assert s["xruns"] == 2 and len(s["glitches"]) == 2
    assert s["frames_lost"] == 2 * L
    assert s["glitches_unexplained"] == 0 and s["xruns_without_glitch"] == 0
    assert s["frames_played"] == len(inp) - 2 * L


def test_lost_interrupts_coalesce_but_lose_no_audio(tmp_path):
    s, out, inp = _run(tmp_path, "--period-size", "512", "--periods", "8",
                       "--lose-irqs", "0.3", "--seed", "1")
    assert s["lost_irqs"] > 10
    assert s["coalesced_callbacks"] == s["lost_irqs"]
    assert s["xruns"] == 0 and s["glitches"] == []
    assert any("Lost interrupts?" in line for line in s["log"])
    _same(out, inp)


def test_runs_of_lost_interrupts_xrun_or_lap_the_writer_unseen(tmp_path):
    # Half the interrupts lost on a 4-period ring. A callback that comes after four or
    # more periods finds a position that looks like less than a period on: the jiffies
    # check sees it late, adds the lap, and the core reports the xrun. After five, six
    # or seven periods the position looks like one to three periods on, and the core,
    # as the kernel's, cannot tell: the DMA lapped the writer and replayed the ring
    # without an xrun until a later callback happens to catch it. The output analysis
    # finds every one, as a stale glitch.
    s, out, inp = _run(tmp_path, "--period-size", "512", "--periods", "4",
                       "--lose-irqs", "0.5", "--seed", "4")
    assert s["xruns"] >= 2
    assert s["xruns_without_glitch"] == 0
    assert len(s["glitches"]) == s["glitches_explained"] + s["glitches_unexplained"]
    kinds = [g["kind"] for g in s["glitches"]]
    assert "stale" in kinds and "skip" in kinds
    assert s["glitches_unexplained"] >= 1  # a lap no callback ever caught
    assert s["frames_lost"] >= sum(g["lost"] for g in s["glitches"] if g["lost"] > 0) > 0


def test_late_bottom_halves_coalesce_callbacks(tmp_path):
    # 16 ms of interrupt latency, periods of 256 frames (5.3 ms): three periods a callback
    s, out, inp = _run(tmp_path, "--period-size", "256", "--periods", "16",
                       "--irq-latency", "16")
    assert s["max_irq_latency_ms"] == pytest.approx(16.0, abs=0.01)
    assert s["coalesced_callbacks"] > s["periods"] // 2
    assert s["xruns"] == 0
    _same(out, inp)


def test_dma_starvation_runs_the_fifo_dry_without_an_xrun(tmp_path):
    at, dur = 0.6001, 0.01
    s, out, inp = _run(tmp_path, "--period-size", "1024", "--periods", "4",
                       "--dma-starve", f"{at}:{dur}")
    assert (s["fifo_underruns"], s["xruns"], s["frames_lost"]) == (1, 0, 0)
    g = s["glitches"]
    # the FIFO holds what was fetched ahead: D(p) - p frames play on, then silence
    p0 = frame(at)
    dry = fetched(p0) if fetched(p0) - p0 > FIFO_TRIGGER else p0
    assert len(g) == 1 and g[0]["kind"] == "silence" and g[0]["lost"] == 0
    assert g[0]["at_frame"] == dry
    assert g[0]["inserted"] == frame(at + dur) - dry
    assert s["glitches_unexplained"] == 0


def test_bus_error_stops_the_dma_times_out_and_recovers(tmp_path):
    s, out, inp = _run(tmp_path, "--period-size", "1024", "--periods", "4",
                       "--bus-error", "0.8")
    kinds = [e["kind"] for e in s["events"]]
    assert "eio" in kinds and "fifo_underrun" in kinds
    assert s["recoveries"] >= 1
    a = analyse(inp, out)
    assert a.glitches and a.glitches[0].kind == "silence"
    # after the recovery the stream plays the rest of the input, in order
    assert a.tail_lost == 0 and s["frames_played"] > len(inp) - 3 * 4096
    assert s["glitches_unexplained"] == 0


def test_duplex_capture_shows_the_same_glitch_after_the_loop(tmp_path):
    js = tmp_path / "d.json"
    at, dur = 0.5003, 0.1
    assert main(["stress", "--duration", "1.5", "--duplex", "--period-size", "1024",
                 "--periods", "4", "--stall", f"{at}:{dur}", "--json", str(js)]) == 0
    s = json.loads(js.read_text())
    dry = written_at(frame(at), 1024, 4096) - L
    assert [(g["at_frame"], g["kind"], g["lost"]) for g in s["glitches"]] == [
        (dry + 64, "silence", L)]  # the virtual card loops its output back 64 frames late


def test_sweep_reports_each_period_size(tmp_path, capsys):
    js, png = tmp_path / "sw.json", tmp_path / "sw.png"
    assert main(["stress", "--duration", "1", "--jitter", "4", "--seed", "3",
                 "--sweep", "64,256,1024", "--json", str(js), "--plot", str(png)]) == 0
    rows = json.loads(js.read_text())["sweep"]
    assert [r["period_size"] for r in rows] == [64, 256, 1024]
    assert [r["buffer_size"] for r in rows] == [256, 1024, 4096]
    assert rows[0]["xruns"] > rows[2]["xruns"] == 0  # 5 ms of ring xruns under 4 ms jitter
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "period-size sweep" in capsys.readouterr().err


def test_sweep_runs_after_the_first_match_glitches_to_xruns(tmp_path):
    """The runs of a sweep share one board and one clock, so each later run starts later
    on the clock; its events must still be placed in its own output."""
    js = tmp_path / "sw.json"
    assert main(["stress", "--duration", "2", "--stall", "1:0.2", "--sweep", "256,1024",
                 "--json", str(js)]) == 0
    rows = json.loads(js.read_text())["sweep"]
    assert [(r["xruns"], r["glitches"]) for r in rows] == [(1, 1), (1, 1)]
    assert [(r["glitches_unexplained"], r["xruns_without_glitch"]) for r in rows] == [
        (0, 0), (0, 0)]


def test_json_and_plot(tmp_path):
    js, png = tmp_path / "s.json", tmp_path / "s.png"
    assert main(["stress", "--duration", "1", "--stall", "0.3:0.2", "--json", str(js),
                 "--plot", str(png)]) == 0
    s = json.loads(js.read_text())
    for key in ("xruns", "fifo_underruns", "card_underflows", "periods", "irqs",
                "coalesced_callbacks", "max_irq_latency_ms", "frames_written",
                "frames_played", "frames_lost", "recoveries", "glitches"):
        assert key in s
    assert s["irqs"] == s["periods"]  # one top half per period with nothing injected
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,msg", [
    (["--stall", "1.9:0.5"], "ends after the stream"),
    (["--stall=-1:0.5"], "AT must be >= 0"),
    (["--stall", "abc"], "expected AT:DURATION"),
    (["--on-xrun", "pause"], "invalid choice"),
    (["--jitter", "-3"], "must not be negative"),
    (["--hog", "2"], "needs real time"),
    (["--bus-error", "5"], "not within the stream"),
    (["--lose-irqs", "2"], "between 0 and 1"),
    (["--sweep", "64,x"], "period sizes"),
])
def test_bad_options_one_line(args, msg, capsys):
    assert main(["stress", "--duration", "2", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0]


def test_unplug_disconnects_the_card_and_ends_the_run_as_a_lost_device(tmp_path, capsys):
    js, tap = tmp_path / "s.json", tmp_path / "tap.wav"
    at = 0.7
    rc = main(["stress", "--duration", "2", "--period-size", "1024", "--periods", "4",
               "--unplug", str(at), "--json", str(js), "--tap", str(tap)])
    assert rc == 1
    s = json.loads(js.read_text())
    assert s["ended_by"] == f"sound device lost: unplugged at {at:g} s (--unplug)"
    assert capsys.readouterr().err.count("dma-audio: sound device lost: unplugged") == 1
    # The card heard every frame up to the unplug and nothing after: the disconnect's
    # STOP strands what the FIFO held. The writer had kept the ring full until then.
    p_at = frame(at)
    assert (s["frames_played"], s["frames_written"]) == (p_at, written_at(p_at, 1024, 4096))
    assert (s["xruns"], s["glitches"]) == (0, [])
    _, out = wavfile.read(tap)
    assert np.array_equal(out, stress_signal(RATE, 2, 2.0, 1)[:p_at])


def test_unplug_outside_the_stream_is_refused(capsys):
    assert main(["stress", "--duration", "2", "--unplug", "2.5"]) == 2
    assert capsys.readouterr().err.strip() == "--unplug 2.5 is not within the stream (0..2 s)"


@pytest.mark.parametrize("kind", ["sine", "silence"])
def test_an_input_that_repeats_itself_is_said_and_not_measured(tmp_path, capsys, kind):
    """A 440 Hz sine at 48 kHz repeats every 1200 frames, silence everywhere: no window
    of the output can be placed in the input, so stress says so and reports the kernel's
    counters (the xrun) but no glitch, heard or lost frame."""
    t = np.arange(3 * RATE) / RATE
    x = np.rint(np.sin(2 * np.pi * 440 * t) * 12000) if kind == "sine" else 0 * t
    src = tmp_path / "in.wav"
    wavfile.write(src, RATE, np.stack([x, x], axis=1).astype(np.int16))
    js = tmp_path / "s.json"
    assert main(["stress", str(src), "--stall", "1:0.2", "--period-size", "1024",
                 "--periods", "4", "--json", str(js)]) == 0
    s = json.loads(js.read_text())
    assert s["xruns"] == 1 and s["matchable"] == 0
    assert s["frames_played"] is None and s["frames_lost"] is None
    assert s["glitches"] == [] and s["glitches_unexplained"] is None
    assert "the input repeats itself" in capsys.readouterr().err


def test_the_stress_signal_is_matchable_throughout():
    from demos.glitch_stream import matchable_stream

    sig = stress_signal(RATE, 2, 2.0, 1)
    assert matchable_stream(lambda i, n: sig[i : i + n], len(sig), 4096) == 1.0


@pytest.mark.parametrize("fault", [["--lose-irqs", "1"], ["--irq-latency", "1e9"]])
def test_a_drain_with_no_interrupt_gives_up_as_the_kernels_does(tmp_path, fault):
    """No interrupt ever reaches the PCM: the writes time out (EIO), and the drain,
    with no pointer moving for a wait's time, is stopped ("playback drain timeout")."""
    js = tmp_path / "s.json"
    assert main(["stress", "--duration", "1", "--json", str(js), *fault]) == 0
    s = json.loads(js.read_text())
    assert any("playback drain timeout" in line for line in s["log"])
    assert [e["kind"] for e in s["events"]][-1] == "eio"


def test_the_plot_marks_every_fault_and_effect_and_zooms_on_the_first_glitch():
    """The figure's artists, not its pixels: a stall span, a line per injected fault and
    per event, the DMA's continuous progress, a glitch marker, the zoom panel, plain
    words in the legend and "1 xrun" in the title; at 64-frame periods the fill is a
    band (one polygon), not thousands of steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from demos import stress_report
    from demos.cli import build_parser
    from demos.session import open_session
    from demos.stress import Stress
    from demos.stress_cmd import _faults, _input

    args = build_parser().parse_args(["stress", "--duration", "2", "--period-size", "64",
                                      "--stall", "1.0:0.2", "--dma-starve", "1.5:0.05"])
    src, _ = _input(args)
    faults = _faults(args, 2.0, False)
    sess = open_session("virtual", "virtual", tap=True)
    try:
        result = Stress(sess, src, args, faults, lambda s: None, None).run()
    finally:
        sess.close()
    fig = stress_report.figure(result, plt)
    top, zoom = fig.axes[0], fig.axes[1]  # then each panel's twin (the DMA's axis)
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    for words in ("writer stalled", "injected fault", "xrun (the ring ran dry)",
                  "glitch heard in the output", "period interrupts", "I2S FIFO ran dry"):
        assert words in labels
    assert top.get_title().startswith("stop mode: 1 xrun, ")
    injected = [ln for ln in top.get_lines() if ln.get_linestyle() == "--"]
    assert len(injected) == len(result.injected) == 2  # starved, served again
    assert len(top.patches) >= 1 and len(top.collections) >= 1  # the stall; the band
    dma = next(a for a in fig.axes if a.get_gid() == "dma_axis").get_lines()[0]
    t = dma.get_xdata()
    assert len(t) > 4 * 2 * 48000 // 64 * 0.9  # four samples a period, interrupts or not
    assert zoom.get_title().startswith("around the first glitch")
    lo, hi = zoom.get_xlim()
    assert lo < result.summary["glitches"][0]["at_s"] < hi and hi - lo < 0.1
    plt.close(fig)


def test_the_report_opens_with_a_plain_account_and_the_json_keeps_the_plan(tmp_path,
                                                                           capsys):
    js = tmp_path / "s.json"
    argv = ["stress", "--duration", "2", "--period-size", "1024", "--stall", "1.0:0.2",
            "--dma-starve", "1.5:0.05", "--seed", "7", "--json", str(js)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    s = json.loads(js.read_text())
    assert s["account"].startswith("the writer stalled 200 ms at 1.00 s; the 85 ms ring "
                                   "ran dry at 1.066 s; XRUN; 134 ms of silence; ")
    assert "DMA request line 0 starved at 1.500 s" in s["account"]
    assert " ".join(s["account"].split()) in " ".join(err.split())  # printed first
    assert err.index("the writer stalled") < err.index("stress: stop mode")
    assert s["seed"] == 7 and s["faults"]["seed"] == 7 and s["input"] == "a 2 s glide"
    assert s["faults"]["stalls"] == [{"at": 1.0, "duration": 0.2}]
    assert [i["what"] for i in s["injected"]] == ["DMA request line 0 starved",
                                                  "DMA request line 0 served again"]
    assert s["command_line"] == ["dma-audio", *argv]
    times = [e["at_s"] for e in s["timeline"]]
    assert times == sorted(times) and len(times) >= 5


def test_faults_that_last_the_whole_run_are_written_on_the_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from demos import stress_report
    from demos.cli import build_parser
    from demos.session import open_session
    from demos.stress import Stress
    from demos.stress_cmd import _faults, _input

    args = build_parser().parse_args(["stress", "--duration", "1", "--period-size", "256",
                                      "--irq-latency", "8", "--lose-irqs", "0.2"])
    src, _ = _input(args)
    sess = open_session("virtual", "virtual", tap=True)
    try:
        result = Stress(sess, src, args, _faults(args, 1.0, False), lambda s: None,
                        None).run()
    finally:
        sess.close()
    fig = stress_report.figure(result, plt)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "throughout: bottom halves 8 ms late, 20% of interrupts lost" in texts
    assert stress_report.account(result).startswith(
        "With bottom halves 8 ms late, 20% of interrupts lost: ")
    plt.close(fig)
