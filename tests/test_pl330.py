"""The PL330 model and its provider: hand-assembled microcode runs, faults and DMAKILL,
the decode table, loops run as one copy against the same loops run one by one, the
descriptor pool, and the PCM a PL330 gives (no pause, no resume, no BATCH)."""

from __future__ import annotations

import errno
import logging

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dma
from demos.cli import main
from dma import Cap, PrepFlags, TransferDirection
from dma.consumer import issue_pending, prep_dma_cyclic, prep_dma_memcpy, submit, tx_status
from dma.core import release_channel, request_chan_by_mask
from dma.dmaengine import DmaStatus, DmaTxResult, SlaveConfig
from dma.mapping import dma_alloc_coherent, dma_free_coherent
from pcm import alsa
from pcm.errors import PcmError
from pcm.pcm_native import INFO_BATCH, INFO_PAUSE, INFO_RESUME, PcmStream
from soc import pl330 as hw
from soc.board import DMAC_BASE, DMAC_IRQ, RAM_BASE, make_audio_board, make_board

CODE = RAM_BASE + 0x1000
SRC = RAM_BASE + 0x10000
DST = RAM_BASE + 0x40000


# -- a small assembler, after the encodings in the PL330 TRM --

def mov(rd: int, value: int) -> bytes:
    return bytes((0xBC, rd)) + value.to_bytes(4, "little")


def lp(lc: int, n: int) -> bytes:
    return bytes((0x20 | (lc << 1), n - 1))


def lpend(lc: int, jump: int) -> bytes:
    return bytes((0x38 | (lc << 2), jump))


def ccr(size_log2: int, length: int) -> int:
    return (1 | (size_log2 << 1) | ((length - 1) << 4) | (1 << 14) | (size_log2 << 15)
            | ((length - 1) << 18))


LD, ST, END, KILL, NOP = b"\x04", b"\x08", b"\x00", b"\x01", b"\x18"
ADDH_0 = b"\x54\x00\x00"  # DMAADDH SAR, 0: changes nothing, but no loop with it is batched


def sev(ev: int) -> bytes:
    return bytes((0x34, ev << 3))


def copy_program(size_log2: int, length: int, n0: int, n1: int, body: bytes = b"") -> bytes:
    """SAR, DAR, CCR; LP n0 { LP n1 { body LD ST } }; SEV 0; END."""
    inner = body + LD + ST
    loop1 = lp(1, n1) + inner + lpend(1, len(inner))
    loop0 = lp(0, n0) + loop1 + lpend(0, len(loop1))
    return (mov(0, SRC) + mov(2, DST) + mov(1, ccr(size_log2, length)) + loop0 + sev(0)
            + END)


class Dmac:
    """A board with a PL330 and no driver bound: the tests drive its registers."""

    def __init__(self) -> None:
        self.board = make_board(dmac="pl330")
        self.hw: hw.Pl330 = self.board.soc.hw["dma0"]
        self.clock = self.board.soc.clock
        self.bus = self.board.soc.bus
        self.irqs: list[int] = []
        self.board.soc.irqc.request_irq(DMAC_IRQ, self._irq, "test")

    def _irq(self, line: int) -> None:
        """Note the interrupt and mask the line (disable_irq_nosync): the test reads the
        registers as the handler would have found them."""
        self.irqs.append(line)
        self.board.soc.irqc.disable_irq(line)

    def write(self, addr: int, data: bytes) -> None:
        self.bus.ram_view(addr, len(data), True)[:] = np.frombuffer(data, np.uint8)

    def read(self, addr: int, n: int) -> np.ndarray:
        return self.bus.ram_view(addr, n, False).copy()

    def reg(self, off: int) -> int:
        return self.bus.read32(DMAC_BASE + off)

    def debug(self, insn: bytes, thread: int | None = None) -> None:
        """What ``_execute_DBGINSN`` does: DBGINST0/1, then DBGCMD."""
        val = (insn[0] << 16) | ((insn[1] if len(insn) > 1 else 0) << 24)
        if thread is not None:
            val |= 1 | (thread << 8)
        self.bus.write32(DMAC_BASE + hw.DBGINST0, val)
        self.bus.write32(DMAC_BASE + hw.DBGINST1,
                         int.from_bytes(insn[2:6].ljust(4, b"\0"), "little"))
        self.bus.write32(DMAC_BASE + hw.DBGCMD, 0)

    def go(self, thread: int, addr: int = CODE) -> None:
        self.bus.write32(DMAC_BASE + hw.INTEN, 1)
        self.debug(bytes((0xA0, thread)) + addr.to_bytes(4, "little"))

    def state(self, thread: int) -> int:
        return self.reg(hw.CSR_BASE + 8 * thread) & 0xF

    def run_until_stopped(self, thread: int) -> None:
        assert self.clock.run_until_true(
            lambda: self.state(thread) in (hw.STOPPED, hw.FAULTING), 10**9)


def test_every_opcode_byte_decodes_as_the_first_table_entry_says():
    for byte in range(256):
        want = next(((name, size) for op, mask, size, name in hw.INSTRUCTIONS
                     if byte & mask == op), None)
        assert hw.DECODE[byte] == want
    # the overlaps and holes a kernel engineer would check
    assert hw.DECODE[0x29] == ("stp", 2) and hw.DECODE[0x2B] == ("stp", 2)
    assert hw.DECODE[0x28] == ("lpend", 2) and hw.DECODE[0x3C] == ("lpend", 2)
    assert hw.DECODE[0x30][0] == "wfp" and hw.DECODE[0x34][0] == "sev"
    assert hw.DECODE[0x35][0] == "flushp" and hw.DECODE[0x36][0] == "wfe"
    assert hw.DECODE[0xA2] == ("go", 6) and hw.DECODE[0xBC] == ("mov", 6)
    assert hw.DECODE[0x02] is None and hw.DECODE[0xFF] is None


def test_a_hand_assembled_copy_runs_and_interrupts_on_its_event():
    d = Dmac()
    data = np.random.default_rng(1).integers(0, 256, 4 * 16 * 3 * 5, np.uint8)
    d.write(SRC, data.tobytes())
    d.write(CODE, copy_program(2, 16, 3, 5))
    d.go(0)
    assert d.state(0) == hw.EXECUTING  # memory to memory: paced by the bus
    d.run_until_stopped(0)
    assert d.state(0) == hw.STOPPED and d.reg(hw.FSRC) == 0
    assert np.array_equal(d.read(DST, len(data)), data)
    assert d.reg(hw.CH_BASE + hw.SAR) == SRC + len(data)
    assert d.reg(hw.INTMIS) == 1 and d.reg(hw.INT_EVENT_RIS) == 1 and d.irqs
    d.bus.write32(DMAC_BASE + hw.INTCLR, 1)
    assert d.reg(hw.INTMIS) == 0
    # 960 bytes at 400 bytes a microsecond
    assert d.clock.now_ns == pytest.approx(len(data) * 1000 / 400, abs=1)


@given(size_log2=st.integers(0, 3), length=st.integers(1, 16), n0=st.integers(1, 4),
       n1=st.integers(1, 256))
def test_a_loop_run_as_one_copy_does_what_the_same_loop_does_one_by_one(size_log2, length,
                                                                       n0, n1):
    """The batched loop (LD ST) against the same loop with a DMAADDH of 0 in its body,
    which runs one iteration at a time: the same bytes, registers, time and interrupt."""
    burst = length << size_log2
    total = burst * n0 * n1
    data = np.random.default_rng(total).integers(0, 256, total, np.uint8)
    results = []
    for body in (b"", ADDH_0):
        d = Dmac()
        d.write(SRC, data.tobytes())
        d.write(CODE, copy_program(size_log2, length, n0, n1, body))
        d.go(0)
        d.run_until_stopped(0)
        results.append((d.read(DST, total + 16).tobytes(), d.reg(hw.CH_BASE + hw.SAR),
                        d.reg(hw.CH_BASE + hw.DAR), d.clock.now_ns, d.reg(hw.INTMIS),
                        d.hw.instructions))
        d.board.remove()
    (a, *ra, ia), (b, *rb, ib) = results
    assert a == b and a[:total] == data.tobytes() and a[total:] == bytes(16)
    assert ra == rb
    assert ia < ib or n1 == 1  # the batched run decoded fewer instructions


def test_an_undefined_instruction_faults_the_thread_and_raises_the_abort():
    d = Dmac()
    d.write(CODE, mov(0, SRC) + b"\xff" + END)
    d.go(0)
    assert d.state(0) == hw.FAULTING
    assert d.reg(hw.FSRC) == 1 and d.reg(hw.FTR_BASE) & hw.UNDEF_INSTR
    assert d.reg(hw.CSR_BASE + 4) == CODE + 6  # CPC: the faulting instruction
    assert d.irqs  # the abort
    d.debug(KILL, thread=0)  # _stop: the fault is cleared, the thread stopped
    assert d.state(0) == hw.STOPPED and d.reg(hw.FSRC) == 0 and d.reg(hw.FTR_BASE) == 0


def test_a_bad_operand_and_a_bad_address_fault_with_their_own_types():
    d = Dmac()
    d.write(CODE, bytes((0xBC, 7)) + bytes(4))  # DMAMOV to no register
    d.go(0)
    assert d.reg(hw.FTR_BASE) & hw.OPERAND_INVALID
    d.debug(KILL, thread=0)
    d.write(CODE + 0x100, mov(0, 0x10) + mov(2, DST) + mov(1, ccr(2, 1)) + LD + ST + END)
    d.go(0, CODE + 0x100)
    d.run_until_stopped(0)
    assert d.reg(hw.FTR_BASE) & hw.DATA_READ_ERR  # SAR 0x10 is nobody's


def test_dmakill_mid_loop_stops_the_thread_where_it_was():
    d = Dmac()
    total = 16 * 256 * 4
    d.write(SRC, np.full(total, 7, np.uint8).tobytes())
    d.write(CODE, copy_program(2, 4, 4, 256))
    d.go(0)
    d.clock.run_until(d.clock.now_ns + 5_000)  # 2000 of the 16384 bytes
    d.debug(KILL, thread=0)
    assert d.state(0) == hw.STOPPED
    sar, dar = d.reg(hw.CH_BASE + hw.SAR), d.reg(hw.CH_BASE + hw.DAR)
    assert DST < dar <= DST + sar - SRC < DST + total
    d.clock.run_until(d.clock.now_ns + 10**8)
    assert d.reg(hw.CH_BASE + hw.DAR) == dar and d.reg(hw.INTMIS) == 0 and not d.irqs
    copied = d.read(DST, total)
    assert (copied[: dar - DST] == 7).all() and (copied[dar - DST:] == 0).all()


def test_an_unknown_register_offset_is_logged_and_reads_0(caplog):
    d = Dmac()
    with caplog.at_level(logging.WARNING):
        assert d.reg(0x300) == 0
    assert d.hw.unknown_accesses == 1 and "unknown register offset 0x300" in caplog.text


def test_the_probe_reads_the_configuration_registers():
    board = make_board(dmac="pl330")
    board.populate()
    try:
        drv = board.devices["dma0"].drvdata
        assert (drv.num_chan, drv.num_peri, drv.num_events) == (8, 16, 16)
        assert drv.data_bus_width == 64 and drv.periph_id & 0xFFFFF == 0x41330
        assert len(drv.desc_pool) == 16  # NR_DEFAULT_DESC
    finally:
        board.remove()


@pytest.fixture
def pl330_board():
    board = make_board(dmac="pl330")
    board.populate()
    yield board
    board.remove()


def _memcpy(board, n: int, dst_addr: int | None = None):
    chan = request_chan_by_mask(Cap.MEMCPY)
    pdev = board.devices["dma0"]
    src, src_bus = dma_alloc_coherent(pdev, n)
    dst, dst_bus = dma_alloc_coherent(pdev, n)
    src[:] = np.arange(n) & 0xFF
    results = []
    tx = prep_dma_memcpy(chan, dst_bus if dst_addr is None else dst_addr, src_bus, n,
                         PrepFlags.PREP_INTERRUPT)
    tx.callback_result = lambda _, r: results.append(r)
    cookie = submit(tx)
    issue_pending(chan)
    return chan, pdev, (src, src_bus), (dst, dst_bus), cookie, results


def test_a_write_to_nowhere_is_reported_as_the_kernel_reports_a_result(pl330_board):
    chan, pdev, (src, sb), (dst, db), cookie, results = _memcpy(pl330_board, 4096, 0x10)
    try:
        assert pl330_board.soc.clock.run_until_true(lambda: bool(results), 10**9)
        assert results[0].result == DmaTxResult.WRITE_FAILED
        assert tx_status(chan, cookie)[0] == DmaStatus.ERROR
    finally:
        dma_free_coherent(pdev, 4096, sb)
        dma_free_coherent(pdev, 4096, db)
        release_channel(chan)


def test_microcode_overwritten_with_an_undefined_opcode_fails_the_request(pl330_board):
    """Two memcpys: the second waits in the thread's other request buffer. A byte of it
    turned into 0xFF before its DMAGO faults the thread when it gets there: the first
    completes, the driver reports the second ABORTED and tx_status says ERROR."""
    chan = request_chan_by_mask(Cap.MEMCPY)
    pdev = pl330_board.devices["dma0"]
    src, sb = dma_alloc_coherent(pdev, 8192)
    dst, db = dma_alloc_coherent(pdev, 8192)
    src[:] = np.arange(8192) & 0xFF
    results: list = [[], []]
    cookies = []
    for i in range(2):
        tx = prep_dma_memcpy(chan, db + 4096 * i, sb + 4096 * i, 4096,
                             PrepFlags.PREP_INTERRUPT)
        tx.callback_result = lambda _, r, i=i: results[i].append(r)
        cookies.append(submit(tx))
    issue_pending(chan)
    try:
        thrd = pl330_board.devices["dma0"].drvdata.threads[0]
        assert thrd.req_running == 0 and thrd.req_desc[1] is not None
        code = thrd.req_cpu[1]
        sev = int(np.flatnonzero(code == 0x34)[-1])  # the DMASEV after the loop
        code[sev] = 0xFF
        assert pl330_board.soc.clock.run_until_true(lambda: bool(results[1]), 10**9)
        assert results[0][0].result == DmaTxResult.NOERROR
        assert np.array_equal(dst[:4096], src[:4096])
        assert results[1][0].result == DmaTxResult.ABORTED
        assert tx_status(chan, cookies[0])[0] == DmaStatus.COMPLETE
        assert tx_status(chan, cookies[1])[0] == DmaStatus.ERROR
    finally:
        dma_free_coherent(pdev, 8192, sb)
        dma_free_coherent(pdev, 8192, db)
        release_channel(chan)


@given(n=st.integers(1, 20000), src_off=st.integers(0, 15), dst_off=st.integers(0, 15))
def test_memcpy_through_the_driver_copies_any_length_and_alignment(n, src_off, dst_off):
    board = make_board(dmac="pl330")
    board.populate()
    try:
        chan = request_chan_by_mask(Cap.MEMCPY)
        pdev = board.devices["dma0"]
        src, sb = dma_alloc_coherent(pdev, n + 16)
        dst, db = dma_alloc_coherent(pdev, n + 32)
        src[:] = np.random.default_rng(n).integers(0, 256, n + 16, np.uint8)
        tx = prep_dma_memcpy(chan, db + dst_off, sb + src_off, n, PrepFlags.PREP_INTERRUPT)
        cookie = submit(tx)
        issue_pending(chan)
        assert board.soc.clock.run_until_true(
            lambda: tx_status(chan, cookie)[0] == DmaStatus.COMPLETE, 10**10)
        assert np.array_equal(dst[dst_off:dst_off + n], src[src_off:src_off + n])
        assert not dst[:dst_off].any() and not dst[dst_off + n:].any()
        dma_free_coherent(pdev, n + 16, sb)
        dma_free_coherent(pdev, n + 32, db)
        release_channel(chan)
    finally:
        board.remove()


def test_the_descriptor_pool_grows_when_empty_and_takes_them_all_back(pl330_board):
    """pl330_get_desc: 16 at probe; a 20-period ring takes them and 4 more; terminate
    gives every one back."""
    drv = pl330_board.devices["dma0"].drvdata
    chan = request_chan_by_mask(Cap.SLAVE)
    try:
        chan.device.device_config(chan, SlaveConfig(
            direction=TransferDirection.MEM_TO_DEV, dst_addr=0x1014_01C8, dst_addr_width=2,
            dst_maxburst=8))
        tx = prep_dma_cyclic(chan, RAM_BASE + 0x100000, 20 * 256, 256,
                             TransferDirection.MEM_TO_DEV, PrepFlags.PREP_INTERRUPT)
        assert tx is not None and len(drv.desc_pool) == 0
        submit(tx)
        chan.device.device_terminate_all(chan)
        assert len(drv.desc_pool) == 20
    finally:
        release_channel(chan)


def test_a_pl330_pcm_has_no_pause_no_resume_and_no_batch():
    """pl330 has no device_resume and declares BURST residue: the generic dmaengine PCM
    gives neither PAUSE nor RESUME nor BATCH, and the PCM core answers ENOSYS."""
    board = make_audio_board(tap=True, dmac="pl330")
    board.populate()
    try:
        pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
        pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
        info = pcm.substream.runtime.info
        assert not info & (INFO_PAUSE | INFO_RESUME | INFO_BATCH)
        pcm.prepare()
        pcm.writei(np.ones((4096, 2), np.int16))
        with pytest.raises(PcmError) as e:
            pcm.pause(True)
        assert e.value.errno == errno.ENOSYS
        pcm.drop()
        pcm.close()
    finally:
        board.remove()


def test_dmatest_passes_on_both_controllers(capsys):
    for dmac in ("pl080", "pl330"):
        assert main(["dmatest", "--dmac", dmac, "--iterations", "100", "--json"]) == 0
        out = capsys.readouterr().out.strip().splitlines()[-1]
        assert '"failures": 0' in out and '"tests": 100' in out


@pytest.fixture
def pl330_fifo():
    from dma.mapping import dma_debug_reset
    from tests.conftest import build

    dma_debug_reset()
    board, fifo = build(dmac="pl330")
    yield board, fifo
    board.remove()


def test_a_cyclic_ring_is_a_descriptor_a_period_requeued_as_each_completes(pl330_fifo):
    """Each 1024-byte period is its own request: the peripheral's ask is cut at the
    period's DMASEV, the next request starts from the interrupt, and the callbacks come a
    period each; the residue counts down in bursts from SAR and wraps with the ring."""
    from tests.dma_helpers import _finish, _request, _start_cyclic

    board, fifo = pl330_fifo
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    drv = board.devices["dma0"].drvdata
    assert [d.bytes_requested for d in chan.work_list] == [1024] * 4
    assert _request(board, 1000) == 992  # whole 16-byte bursts (8 beats of 2 bytes)
    assert dma.tx_status(chan, cookie)[1].residue == 4096 - 992
    assert _request(board, 4096) == 32  # the rest of the period, then its DMASEV
    board.soc.clock.run_for(0)
    assert len(calls) == 1 and chan.work_list[-1].status.name == "PREP"  # requeued
    for _ in range(4):
        assert _request(board, 1024) == 1024
        board.soc.clock.run_for(0)
    assert len(calls) == 5 and dma.tx_status(chan, cookie)[1].residue == 3072
    np.testing.assert_array_equal(fifo.data()[:4096], ring[1])
    np.testing.assert_array_equal(fifo.data()[4096:], ring[1][:1024])
    assert len(drv.desc_pool) == 12  # 16 less the ring's four
    _finish(chan, ring)
    assert len(drv.desc_pool) == 16


def test_a_late_bottom_half_stalls_a_pl330_ring(pl330_fifo):
    """pl330.c refills a thread's two request slots from its tasklet: with the bottom
    half late by more than two periods, the thread runs out of requests and the
    peripheral is not served until the tasklet runs (a PL080 ring runs on by itself)."""
    from tests.dma_helpers import MS, _finish, _request, _start_cyclic

    board, _ = pl330_fifo
    board.soc.cpu.bh_latency_ns = 5 * MS
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    assert _request(board, 4096) == 1024
    board.soc.clock.run_for(0)  # the interrupt starts the second queued request
    assert _request(board, 4096) == 1024
    board.soc.clock.run_for(0)
    assert _request(board, 4096) == 0  # both slots spent, the tasklet not yet run
    board.soc.clock.run_for(6 * MS)  # it runs: two more requests, the thread restarted
    assert len(calls) >= 1 and _request(board, 4096) == 1024
    _finish(chan, ring)


def test_no_callback_after_terminate_and_synchronize_on_the_pl330(pl330_fifo):
    from tests.dma_helpers import MS, _request, _start_cyclic

    board, _ = pl330_fifo
    board.soc.cpu.bh_latency_ns = MS
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    _request(board, 1024)
    board.soc.clock.run_for(0)  # a period elapsed: the tasklet is scheduled, not yet run
    assert chan.task.scheduled and calls == []
    dma.terminate_async(chan)
    with pytest.raises(dma.DmaEngineError) as e:
        dma.issue_pending(chan)
    assert e.value.errno == errno.EBUSY
    dma.synchronize(chan)
    board.soc.clock.run_for(10 * MS)
    assert _request(board, 1024) == 0 and calls == []
    dma.release_channel(chan)
    pdev, _, addr, buf = ring
    dma_free_coherent(pdev, buf, addr)
