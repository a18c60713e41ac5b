"""`--trace FILE`: the kernel's snd_pcm trace events, on the virtual clock.

Expectations come from the geometry: the writer's chunks move appl_ptr, each period
interrupt reports the position at a period boundary, and an xrun or a lost interrupt
shows where the kernel's hw_ptr update would report it.
"""

from __future__ import annotations

import json
import re

import numpy as np
from scipy.io import wavfile

from demos.cli import main
from tests.test_stress import written_at

HEADER = "# snd_pcm events (sound/core/pcm_trace.h); seconds on the hardware clock"
LINE = re.compile(r" *(\d+)\.(\d{6}): (hwptr|applptr|xrun|hw_ptr_error): pcmC0D0[pc]/sub0: (.*)")
HWPTR = re.compile(r"(IRQ|POS): pos=(\d+), old=(\d+), base=(\d+), period=(\d+), buf=(\d+)")
APPLPTR = re.compile(r"prev=(\d+), curr=(\d+), avail=(\d+), period=(\d+), buf=(\d+)")


def events_of(path) -> list[tuple[int, str, str]]:
    """(microseconds, event, message) of each line of a trace file."""
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    out = []
    for line in lines[1:]:
        m = LINE.fullmatch(line)
        assert m, f"not a trace line: {line!r}"
        out.append((int(m[1]) * 1_000_000 + int(m[2]), m[3], m[4]))
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
