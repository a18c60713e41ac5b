"""--live and --speed: the view drawn where the runtime says, the plain line without a
terminal, and the virtual clock in slow motion."""

from __future__ import annotations

import time
import types

import numpy as np
import pytest
import soundfile
from rich.console import Console

from demos import live as live_view
from demos import progress
from demos.audiofile import Wav
from demos.cli import main
from demos.play import play_one
from demos.session import open_session
from pcm import alsa
from pcm.runtime import PcmStream
from soc.board import DMACS

ARGS = dict(format=None, channels=None, rate=None, buffer_size=None, verbose=False,
            progress=True)


@pytest.mark.parametrize("dmac", DMACS)
@pytest.mark.parametrize("periods_written", [1, 3])
def test_the_view_puts_each_pointer_where_the_runtime_has_it(dmac, periods_written):
    sess = open_session("virtual", "virtual", tap=True, dmac=dmac)
    try:
        pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
        pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
        pcm.sw_params(start_threshold=1024)
        pcm.prepare()
        pcm.writei(np.ones((1024 * periods_written, 2), np.int16))
        sess.clock.run_for(15_000_000)  # 720 frames into the first period
        s = live_view.snapshot(sess, pcm, 0, 0, "x.wav", 1024, 48000)
        rt = pcm.runtime
        assert (s.hw_ptr, s.appl_ptr) == (rt.hw_ptr, rt.appl_ptr)
        assert 0 < s.dma_pos < 1024 and s.pcm_state == "RUNNING"
        console = Console(record=True, width=120, force_terminal=True)
        console.print(live_view.render(s))
        lines = console.export_text().splitlines()
        ring = next(line for line in lines if line.startswith("|"))
        marks = lines[lines.index(ring) + 1]
        # the markers row lines up with the ring's cells (a space for each separator)
        cells = ring[1:].replace("|", "")
        row = marks[1:len(ring) - 1]
        row = "".join(ch for i, ch in enumerate(row) if ring[1 + i] != "|")
        width = live_view.WIDTH
        assert len(cells) == width
        assert row.index("H") == rt.hw_ptr * width // 4096
        assert row.index("D") == s.dma_pos * width // 4096
        a = rt.appl_ptr % 4096 * width // 4096
        assert row[a] in "AH"  # a full ring: appl_ptr and hw_ptr share a cell
        queued = cells.count("█")
        assert abs(queued - (rt.appl_ptr - rt.hw_ptr) * width // 4096) <= 1
        text = "\n".join(lines)
        assert f"hw_ptr {rt.hw_ptr}" in text and f"appl_ptr {rt.appl_ptr}" in text
        assert "PCM RUNNING" in text and ("dma-pl330" if dmac == "pl330" else
                                          "pl08xdmac") in text
        pcm.drop()
        pcm.close()
    finally:
        sess.close()


def test_play_with_live_draws_the_view_and_without_a_terminal_the_line(monkeypatch):
    """A terminal gets the view; no terminal, no view (the plain line, which a terminal
    would draw, names the file, the total and an ETA)."""
    recorded = Console(record=True, width=120, force_terminal=True)
    monkeypatch.setattr(progress, "Console", lambda **kw: recorded)
    sess = open_session("virtual", "virtual", tap=True)
    try:
        data = np.ones((48000, 2), np.int16)
        args = types.SimpleNamespace(**ARGS, period_size=1024, periods=4, live=True)
        play_one(sess, Wav(48000, "S16_LE", data, "ones.wav"), args, lambda s: None)
    finally:
        sess.close()
    text = recorded.export_text()
    assert "ring: 4 periods of 1024 frames" in text and "ones.wav" in text
    assert "I2S TX FIFO" in text and "interrupts" in text
    line = Console(record=True, width=160, force_terminal=True)
    monkeypatch.setattr(progress, "Console", lambda **kw: line)
    sess = open_session("virtual", "virtual", tap=True)
    try:
        args = types.SimpleNamespace(**ARGS, period_size=1024, periods=4, live=False)
        play_one(sess, Wav(48000, "S16_LE", data, "ones.wav"), args, lambda s: None)
    finally:
        sess.close()
    text = line.export_text()
    assert "ones.wav" in text and "/ 1.00 s" in text and "ETA" in text
    assert "ring:" not in text


def test_slow_motion_runs_the_virtual_card_at_a_fraction_of_real_time(tmp_path):
    src, tap = tmp_path / "in.wav", tmp_path / "tap.wav"
    data = np.random.default_rng(3).integers(-2000, 2000, (9600, 2)).astype(np.int16)
    soundfile.write(src, data, 48000, subtype="PCM_16")
    t = time.monotonic()
    assert main(["play", "-D", "virtual", "--clock", "virtual", "--speed", "0.2",
                 "--period-size", "960", "--no-progress", "--tap", str(tap), str(src)]) == 0
    wall = time.monotonic() - t
    assert wall >= 9600 / 48000 / 0.2 * 0.9  # 0.2 s of audio took at least 0.9 s
    got, _ = soundfile.read(tap, dtype="int16")
    start = int(np.flatnonzero(got.any(axis=1))[0])
    assert np.array_equal(got[start:start + len(data)], data)


@pytest.mark.parametrize("argv", [["--speed", "0.001"], ["--speed", "2"],
                                  ["--clock", "wall", "--speed", "0.5"]])
def test_a_speed_out_of_range_or_off_the_virtual_clock_is_one_line(tmp_path, capsys, argv):
    src = tmp_path / "in.wav"
    soundfile.write(src, np.zeros((480, 2), np.int16), 48000)
    rc = main(["play", "-D", "virtual", *argv, "--no-progress", str(src)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "speed" in err


@pytest.mark.parametrize("argv", [["stress", "--duration", "0.5", "--period-size", "256",
                                   "--stall", "0.2:0.15"],
                                  ["loopback", "-D", "virtual", "--clock", "virtual",
                                   "--seconds", "0.3"]])
def test_stress_and_loopback_draw_the_view(monkeypatch, argv):
    recorded = Console(record=True, width=120, force_terminal=True)
    monkeypatch.setattr(progress, "Console", lambda **kw: recorded)
    assert main([*argv, "--live"]) == 0
    text = recorded.export_text()
    assert "ring: 4 periods of" in text and "I2S TX FIFO" in text and "PCM " in text
    if argv[0] == "stress":
        assert "xruns 1" in text  # the stall outlasts the ring: the view saw the xrun
