"""dmatest: passes on a sound controller, reports failures on a corrupting one."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from demos.cli import main
from dma.dmatest import (
    PATTERN_COPY,
    PATTERN_DST,
    PATTERN_OVERWRITE,
    PATTERN_SRC,
    DmatestParams,
    _pattern,
    dmatest,
)
from tests.conftest import build


def _run(params, corrupt=None, channel=None):
    board, _ = build()
    try:
        if corrupt is not None:
            board.soc.hw["dma0"].corrupt = corrupt
        log: list[str] = []
        thread, res = dmatest(params, board.soc.clock.run_until_true, channel, log.append)
        return thread, res, log
    finally:
        board.remove()


def test_memcpy_1000_random_transfers_pass():
    thread, res, log = _run(DmatestParams(iterations=1000, seed=3))
    assert (res.tests, res.failures) == (1000, 0) and log == []
    assert thread == "dma0chan0-copy0" and res.iops > 0 and res.kbps > 0


@pytest.mark.parametrize("polled", [False, True])
def test_memset_and_polled_modes_pass(polled):
    _, res, _ = _run(DmatestParams(test="memset", iterations=100, polled=polled, alignment=2))
    assert (res.tests, res.failures) == (100, 0)


def test_corrupting_controller_is_caught_and_classified():
    def flip_copy_bit(data: np.ndarray) -> None:
        data[0] ^= 0x40  # the first byte of every burst loses its COPY mark

    _, res, log = _run(DmatestParams(iterations=20, seed=1), corrupt=flip_copy_bit)
    assert res.failures == 20 and res.reasons == {"data error": 20}
    assert any("not copied! Expected" in line for line in log)


def test_iterations_0_runs_until_stopped():
    """As the module's default iterations=0: tests until the thread is told to stop,
    asked before each test."""
    asks = []

    def stop() -> bool:
        asks.append(1)
        return len(asks) > 7

    board, _ = build()
    try:
        _, res = dmatest(DmatestParams(iterations=0), board.soc.clock.run_until_true,
                         None, lambda s: None, stop)
    finally:
        board.remove()
    assert (res.tests, res.failures, len(asks)) == (7, 0, 8)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_iterations_0_stops_on_a_signal_with_its_summary(sig):
    proc = subprocess.Popen([sys.executable, "-u", "-m", "demos.cli", "dmatest", "-v",
                             "--iterations", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # the first test passed: the loop is running
    assert first.startswith("dma0chan0-copy0: result #1: 'test passed' with src_off=")
    proc.send_signal(sig)
    out = first + proc.stdout.read()  # the same reader: it may hold lines read ahead
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0 and err == ""
    last = out.splitlines()[-1]
    m = re.fullmatch(r"dma0chan0-copy0: summary (\d+) tests, 0 failures [\d.]+ iops \d+ KB/s "
                     r"\(0\)", last)
    assert m and int(m[1]) == len(out.splitlines()) - 1  # each test before it passed


def test_a_dst_mapping_error_unmaps_the_src():
    """Buffers too big for two in the DMA memory: the destination cannot be mapped. The
    source mapping is undone each time (else the next source would fail too)."""
    _, res, log = _run(DmatestParams(iterations=3, buf_size=40_000_000))
    assert res.reasons == {"dst mapping error": 3} and res.failures == 3
    assert log[0].startswith("dma0chan0-copy0: result #1: 'dst mapping error' with src_off=")
    assert log[0].endswith(" (-12)")  # dma_mapping_error's -ENOMEM, as dmatest prints ret


def test_timeout_is_reported():
    board, _ = build()
    try:
        board.soc.hw["dma0"].config = 0  # controller disabled: channels never start
        _, res = dmatest(DmatestParams(iterations=3, timeout_ms=5),
                         board.soc.clock.run_until_true, None, lambda s: None)
        assert res.failures == 3 and res.reasons == {"test timed out": 3}
        assert res.kbps > 0  # dmatest counts each test's length before running it
    finally:
        board.remove()


def test_cli_json_last_line_and_exit_codes(capsys):
    assert main(["dmatest", "--iterations", "50", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    last = json.loads(out[-1])
    assert last["tests"] == 50 and last["failures"] == 0 and set(last) == {
        "tests", "failures", "iops", "kbps"}
    assert main(["dmatest", "--iterations", "20", "--inject-corruption", "1", "--json"]) == 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["failures"] == 20


def test_cli_summary_line(capsys):
    assert main(["dmatest", "--iterations", "10", "--norandom", "--channel", "dma0chan2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("dma0chan2-copy0: summary 10 tests, 0 failures ")
    assert line.endswith(" KB/s (0)")  # dmatest's summary ends with its ret


def test_a_data_error_prints_as_dmatest_does():
    """At most MAX_ERROR_COUNT lines a range, then the rest counted; the result line ends
    with the number of wrong bytes, as the kernel's result() prints it."""
    def lose_copy_marks(data: np.ndarray) -> None:
        data ^= 0x40  # every byte the DMA writes loses its COPY mark

    _, res, log = _run(DmatestParams(iterations=1, norandom=True, buf_size=256),
                       corrupt=lose_copy_marks)
    assert res.reasons == {"data error": 1}
    assert len([line for line in log if "not copied!" in line]) == 32
    assert "dma0chan0-copy0: 224 errors suppressed" in log
    assert log[-1] == ("dma0chan0-copy0: result #1: 'data error' with src_off=0x0 "
                       "dst_off=0x0 len=0x100 (256)")


def test_memset_patterns_use_the_memset_index():
    """For memset every byte's index is PATTERN_MEMSET_IDX (1): ~1 & 0x1f = 0x1e."""
    buf = _pattern(8, PATTERN_SRC, 2, 3, PATTERN_COPY, is_memset=True)
    assert buf.tolist() == [0x9E, 0x9E, 0xDE, 0xDE, 0xDE, 0x9E, 0x9E, 0x9E]
    buf = _pattern(4, PATTERN_DST, 1, 1, PATTERN_OVERWRITE, is_memset=False)
    assert buf.tolist() == [0x1F, 0x3E, 0x1D, 0x1C]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["dmatest", "--iterations", "-1"], "must not be negative"),
        (["dmatest", "--test", "raid5"], "invalid choice"),
        (["dmatest", "--channel", "dma7chan0"], "no DMA channel 'dma7chan0'"),
        (["dmatest", "--alignment", "9"], "--alignment 9"),
        (["dmatest", "--inject-corruption", "2"], "between 0 and 1"),
        (["dmatest", "--channel", "dma1chan0"], "cannot do memcpy"),
        (["bogus"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("test", ["xor", "pq"])
def test_dmatest_xor_and_pq_on_the_engine_pass_and_catch_corruption(test, capsys):
    """dmatest's xor and pq tests (odd source counts, coefficients 1, so that every
    destination is the source): clean on the XOR and P+Q engine, and a corrupted result
    is a data error."""
    from demos.cli import main

    assert main(["dmatest", "--test", test, "--iterations", "60", f"--{test}-sources",
                 "4"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith(f"dma2chan0-{test}0: summary 60 tests, 0 failures ")
    assert main(["dmatest", "--test", test, "--iterations", "60",
                 "--inject-corruption", "0.5", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["tests"] == 60 and 0 < doc["failures"] < 60
