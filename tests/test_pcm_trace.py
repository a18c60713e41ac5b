"""`--trace FILE`: the kernel's snd_pcm trace events, on the virtual clock.

Expectations come from the geometry: the writer's chunks move appl_ptr, each period
interrupt reports the position at a period boundary, and an xrun or a lost interrupt
shows where the kernel's hw_ptr update would report it.
"""

from __future__ import annotations

import json
import os
import re
import types

import numpy as np
import pytest
from scipy.io import wavfile

from demos.audiofile import Wav
from demos.cli import main
from demos.play import play_one
from demos.session import open_session
from soc.board import DMACS
from tests import ftrace_text
from tests.test_stress import written_at

SND_PCM = ("hwptr", "applptr", "xrun", "hw_ptr_error")
HWPTR = re.compile(r"(IRQ|POS): pos=(\d+), old=(\d+), base=(\d+), period=(\d+), buf=(\d+)")
APPLPTR = re.compile(r"prev=(\d+), curr=(\d+), avail=(\d+), period=(\d+), buf=(\d+)")


def events_of(path) -> list[tuple[int, str, str]]:
    """(microseconds, event, message) of each snd_pcm event of a trace file (ftrace's
    text format, read by tests/ftrace_text.py); the message without its
    ``pcmC0D0p/sub0: `` head."""
    out = []
    for e in ftrace_text.parse(path.read_text()):
        if e.name in SND_PCM:
            head, _, msg = e.msg.partition(": ")
            assert re.fullmatch(r"pcmC0D0[pc]/sub0", head), e.msg
            out.append((e.us, e.name, msg))
    return out


def test_a_plays_trace_follows_both_pointers(tmp_path, capsys):
    period, buffer, frames = 256, 1024, 2660
    src, trace = tmp_path / "in.wav", tmp_path / "trace.txt"
    wavfile.write(src, 48000, np.ones((frames, 2), np.int16))
    assert main(["play", "-D", "virtual", "--clock", "virtual", "--no-progress", str(src),
                 "--period-size", str(period), "--periods", "4", "--trace", str(trace)]) == 0
    events = events_of(trace)
    assert [t for t, _, _ in events] == sorted(t for t, _, _ in events)
    appl = [tuple(map(int, APPLPTR.fullmatch(m).groups())) for _, e, m in events
            if e == "applptr"]
    hw = [(m_[1], *map(int, m_.groups()[1:])) for _, e, m in events if e == "hwptr"
          for m_ in [HWPTR.fullmatch(m)]]
    # aplay's start: four whole periods into the ring before the DMA runs
    assert appl[:4] == [(k * period, (k + 1) * period, buffer - (k + 1) * period, period,
                         buffer) for k in range(4)]
    assert all(a[0] == b[1] for b, a in zip(appl, appl[1:], strict=False))  # one chain
    end = -(-frames // period) * period  # the last period filled out, as aplay pads it
    assert appl[-1][1] == end
    # Each update starts from where the last one left hw_ptr.
    assert all(b[2] % buffer == a[1] for a, b in zip(hw, hw[1:], strict=False))
    irq = [h for h in hw if h[0] == "IRQ"]
    assert all(h[1] % period == 0 for h in irq)  # no interrupt latency on this clock
    # The drain ends at the first interrupt past the last frame written.
    assert len(irq) == end // period
    assert not [e for _, e, _ in events if e in ("xrun", "hw_ptr_error")]


def test_an_xrun_is_traced_where_the_ring_ran_dry(tmp_path, capsys):
    period, buffer, at = 1024, 4096, 0.5003
    js, trace = tmp_path / "s.json", tmp_path / "trace.txt"
    assert main(["stress", "--duration", "2", "--json", str(js), "--period-size", "1024",
                 "--periods", "4", "--stall", f"{at}:0.2", "--trace", str(trace)]) == 0
    s = json.loads(js.read_text())
    events = events_of(trace)
    xruns = [i for i, (_, e, _) in enumerate(events) if e == "xrun"]
    assert len(xruns) == s["xruns"] == 1
    dry = written_at(int(round(at * 1e9)) * 48000 // 1_000_000_000, period, buffer)
    i = xruns[0]
    assert events[i][2] == (f"XRUN: old={dry}, base={dry - dry % buffer}, period={period}, "
                            f"buf={buffer}")
    # The interrupt whose update found the ring empty comes just before.
    assert events[i - 1][1] == "hwptr" and events[i - 1][2].startswith(
        f"IRQ: pos={dry % buffer}, ")


def test_lost_interrupts_are_traced_after_the_update_that_saw_them(tmp_path, capsys):
    """The kernel's rule, applied to each traced update: more than 1.5 periods on from
    the old hw_ptr is "Lost interrupts?", reported right after that update's hwptr."""
    period, buffer = 512, 4096
    js, trace = tmp_path / "s.json", tmp_path / "trace.txt"
    assert main(["stress", "--duration", "2", "--json", str(js), "--period-size", "512",
                 "--periods", "8", "--lose-irqs", "0.3", "--seed", "1",
                 "--trace", str(trace)]) == 0
    assert json.loads(js.read_text())["lost_irqs"] > 10
    events = events_of(trace)
    lost, errors = [], []
    for i, (_, e, m) in enumerate(events):
        if e == "hw_ptr_error":
            assert m == "ERROR: Lost interrupts?"
            errors.append(i - 1)
        elif e == "hwptr":
            pos, old, base = map(int, HWPTR.fullmatch(m).groups()[1:4])
            new = base + pos + (buffer if base + pos < old else 0)
            if new - old > period + period // 2:
                lost.append(i)
    assert errors == lost and len(lost) > 5


def test_a_trace_file_that_cannot_be_written_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["play", "-D", "virtual", "--trace", str(tmp_path / "no" / "t.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{tmp_path / 'no' / 't.txt'}: no such directory {tmp_path / 'no'}"]


@pytest.mark.parametrize("dmac", DMACS)
def test_the_trace_is_ftrace_text_whose_events_match_the_run(tmp_path, dmac):
    """Every line parses as ftrace's text format; the interrupts, tasklets, DMA events
    and the writer's sleeps in it are the run's own counts, each in its context."""
    path = tmp_path / "t.txt"
    data = np.ones((10000, 2), np.int16)
    sess = open_session("virtual", "virtual", tap=True, dmac=dmac)
    try:
        sess.trace_to(str(path))
        args = types.SimpleNamespace(format=None, channels=None, rate=None, period_size=512,
                                     buffer_size=None, periods=4, verbose=False,
                                     progress=False)
        res = play_one(sess, Wav(48000, "S16_LE", data, "ones"), args, lambda s: None)
        soc = sess.board.soc
        irqs = sum(soc.irqc.count)
        periods = (len(data) + res["padded"]) // 512
    finally:
        sess.close()
    events = ftrace_text.parse(path.read_text())
    names = [e.name for e in events]
    assert names.count("irq_handler_entry") == names.count("irq_handler_exit") == irqs
    assert all(e.hardirq for e in events if e.name.startswith("irq_handler"))
    assert names.count("softirq_entry") == names.count("softirq_exit") >= periods - 1
    assert all(e.softirq for e in events if e.name.startswith("softirq"))
    # each period interrupt: the controller's event, the handler, and the hw_ptr update
    # of snd_pcm_period_elapsed, which the DMA callback makes from the tasklet (softirq)
    raised = "dma_terminal_count" if dmac == "pl080" else "dma_event"
    assert names.count(raised) == irqs
    irq_updates = [e for e in events if e.name == "hwptr" and ": IRQ: " in e.msg]
    assert len(irq_updates) == irqs and all(e.softirq for e in irq_updates)
    if dmac == "pl330":
        assert names.count("dma_request_start") == periods + 1  # one more queued, killed
    assert names.count("dma_issue_pending") == 1 and names.count("dma_terminate") >= 1
    # the writer sleeps and wakes in turn; while it sleeps the CPU runs the idle task
    switches = [e for e in events if e.name == "sched_switch"]
    assert switches and all(("prev_state=S" in a.msg) != ("prev_state=S" in b.msg)
                            for a, b in zip(switches, switches[1:], strict=False))
    asleep = False
    for e in events:
        if e.name == "sched_switch":
            asleep = "prev_state=S" in e.msg
            continue
        assert (e.comm, e.pid) == (("<idle>", 0) if asleep else ("dma-audio", os.getpid()))
    assert [e.us for e in events] == sorted(e.us for e in events)  # in time order


def test_the_json_trace_loads_and_holds_the_runs_slices_and_counters(tmp_path):
    """--trace and --trace-json of one play: every interrupt, tasklet run and sleep of
    the writer is a slice of the JSON, every pointer move a counter, the last hw_ptr
    counter is where the trace's last update left hw_ptr."""
    src, text, js = tmp_path / "in.wav", tmp_path / "t.txt", tmp_path / "t.json"
    wavfile.write(src, 48000, np.ones((4800, 2), np.int16))
    assert main(["play", "-D", "virtual", "--clock", "virtual", "--period-size", "256",
                 "--no-progress", "--trace", str(text), "--trace-json", str(js),
                 str(src)]) == 0
    events = ftrace_text.parse(text.read_text())
    doc = json.loads(js.read_text())
    slices = [e for e in doc if e["ph"] == "X"]
    names = [e.name for e in events]

    def count(name):
        return sum(1 for e in slices if e["name"] == name)

    assert count("tasklet") == names.count("softirq_entry") > 0
    assert sum(1 for e in slices if e["name"].endswith("top half")) == names.count(
        "irq_handler_entry")
    assert count("writer asleep") == sum(1 for e in events if e.name == "sched_switch"
                                         and "prev_state=S" in e.msg)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in slices)
    hw = [e["args"]["hw_ptr"] for e in doc if e["ph"] == "C" and e["name"] == "hw_ptr"]
    assert len(hw) == names.count("hwptr")
    pos, _, base = map(int, HWPTR.search(
        [e.msg for e in events if e.name == "hwptr"][-1]).groups()[1:4])
    assert hw[-1] == base + pos
    appl = [e["args"]["appl_ptr"] for e in doc if e["ph"] == "C" and e["name"] == "appl_ptr"]
    assert len(appl) == names.count("applptr") and appl == sorted(appl)


def test_xruns_and_injected_faults_are_instants_of_the_json_trace(tmp_path):
    js, rep = tmp_path / "t.json", tmp_path / "r.json"
    assert main(["stress", "--duration", "1.5", "--period-size", "256", "--stall",
                 "0.4:0.3", "--dma-starve", "1.0:0.05", "--json", str(rep),
                 "--trace-json", str(js)]) == 0
    doc = json.loads(js.read_text())
    report = json.loads(rep.read_text())
    instants = [e for e in doc if e["ph"] == "i"]
    assert sum(1 for e in instants if e["name"] == "xrun") == report["xruns"] >= 1
    faults = [e["args"]["what"] for e in instants if e["name"] == "fault_injected"]
    assert faults == ["DMA request line 0 starved", "DMA request line 0 served again"]
    assert [e["ts"] for e in doc if "ts" in e] == sorted(e["ts"] for e in doc if "ts" in e)
