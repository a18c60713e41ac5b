"""The PL080 model with its provider driver, through the consumer API on the virtual clock."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest

import dma
from dma.dmaengine import SlaveBuswidth as W
from dma.dmaengine import TransferDirection as Dir
from dma.mapping import DmaDataDirection, dma_alloc_coherent, dma_free_coherent
from soc import pl080 as hw
from tests.conftest import FIFO_BASE, TX_LINE, build

MS = 1_000_000
F = dma.PrepFlags


def _ring(board, nbytes):
    pdev = board.devices["dma0"]
    cpu, addr = dma_alloc_coherent(pdev, nbytes)
    cpu[:] = (np.arange(nbytes) * 7 & 0xFF).astype(np.uint8)
    return pdev, cpu, addr


def _tx_chan(board, width=W.BYTES_2, burst=8):
    chan = dma.request_chan(board.devices["fifo0"], "tx")
    dma.slave_config(chan, dma.SlaveConfig(direction=Dir.MEM_TO_DEV, dst_addr=FIFO_BASE,
                                           dst_addr_width=width, dst_maxburst=burst))
    return chan


def _start_cyclic(board, buf=4096, period=1024, width=W.BYTES_2):
    chan = _tx_chan(board, width)
    pdev, cpu, addr = _ring(board, buf)
    tx = dma.prep_dma_cyclic(chan, addr, buf, period, Dir.MEM_TO_DEV, F.PREP_INTERRUPT)
    calls = []
    tx.callback = lambda p: calls.append(board.soc.clock.now_ns)
    cookie = dma.submit(tx)
    dma.issue_pending(chan)
    return chan, tx, cookie, calls, (pdev, cpu, addr, buf)


def _request(board, n):
    return board.soc.hw["dma0"].dma_request(TX_LINE, n, to_periph=True)


def _finish(chan, ring):
    dma.terminate_sync(chan)
    dma.release_channel(chan)
    pdev, _, addr, buf = ring
    dma_free_coherent(pdev, buf, addr)


# -- memcpy / memset ---------------------------------------------------------------


def test_memcpy_copies_and_reports_residue_mid_transfer(board):
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    pdev, src, s = _ring(board, 10000)
    dst, d = dma_alloc_coherent(pdev, 10000)
    tx = dma.prep_dma_memcpy(chan, d, s, 10000, F.PREP_INTERRUPT)
    got = []
    tx.callback = got.append
    tx.callback_param = "param"
    cookie = dma.submit(tx)
    assert dma.tx_status(chan, cookie)[1].residue == 0  # submitted, not issued: not found
    dma.issue_pending(chan)
    board.soc.clock.run_for(10_000)  # 10 us at 400 bytes/us
    status, state = dma.tx_status(chan, cookie)
    assert status == dma.DmaStatus.IN_PROGRESS and state.residue == 6000
    assert (state.last, state.used) == (1, cookie)
    assert board.soc.clock.run_until_true(lambda: bool(got), MS)
    assert got == ["param"] and board.soc.clock.now_ns == 25_000
    assert dma.tx_status(chan, cookie)[0] == dma.DmaStatus.COMPLETE
    np.testing.assert_array_equal(dst, src)
    dma.release_channel(chan)


def test_memset_fills_with_the_value(board):
    chan = dma.request_chan_by_mask(dma.Cap.MEMSET)
    pdev = board.devices["dma0"]
    dst, d = dma_alloc_coherent(pdev, 4096)
    tx = dma.prep_dma_memset(chan, d + 3, 0xA5, 1001)
    dma.submit(tx)
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    assert (dst[3:1004] == 0xA5).all() and not dst[:3].any() and not dst[1004:].any()
    dma.release_channel(chan)


def test_callback_result_takes_precedence(board):
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    pdev, _, s = _ring(board, 256)
    tx = dma.prep_dma_memcpy(chan, s + 128, s, 128, F.PREP_INTERRUPT)
    plain, results = [], []
    tx.callback = plain.append
    tx.callback_result = lambda p, r: results.append((p, r.result, r.residue))
    tx.callback_param = 7
    dma.submit(tx)
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    assert plain == [] and results == [(7, dma.DmaTxResult.NOERROR, 0)]
    dma.release_channel(chan)


def test_a_waiting_channel_is_held_by_pause_and_dropped_by_terminate():
    """The model's stated departure from amba-pl08x (where both return at once for a
    channel without a physical channel): a paused WAITING channel is not given the next
    free physical channel until resumed; a terminated one never runs."""
    board, _ = build(dmac_channels=3)
    try:
        drv = board.devices["dma0"].drvdata
        held = _hold_phys(board, 2)
        chans, src, s, dst, d, done = _copies(board, 3, range(3))
        assert [c.state.value for c in chans] == ["running", "waiting", "waiting"]
        dma.pause(chans[1])
        dma.terminate_sync(chans[2])
        assert [c.state.value for c in chans[1:]] == ["paused", "idle"]
        board.soc.clock.run_for(MS)
        assert done == [0] and drv.phy_serving[2] is None  # the free channel stays free
        more = dma.prep_dma_memcpy(chans[1], d + 12000, s, 4000, F.PREP_INTERRUPT)
        more.callback = done.append
        more.callback_param = 3
        dma.submit(more)
        dma.issue_pending(chans[1])  # more work does not release the pause
        board.soc.clock.run_for(MS)
        assert done == [0] and chans[1].state.value == "paused"
        dma.resume(chans[1])
        assert board.soc.clock.run_until_true(lambda: len(done) == 3, MS)
        assert done == [0, 1, 3]
        np.testing.assert_array_equal(dst[12000:], src)
        assert not dst[8000:12000].any()  # the terminated copy never ran
        for c in chans:
            dma.release_channel(c)
        _release(held)
    finally:
        board.remove()


def _hold_phys(board, k):
    """``k`` physical channels held by slave channels running cyclic transfers that no
    request line ever serves (amba-pl08x has one memcpy virtual channel per physical
    channel, so only slave work leaves memcpy channels WAITING). Release with
    :func:`_release`."""
    chans = []
    for _ in range(k):
        chan = dma.request_chan_by_mask(dma.Cap.SLAVE)
        dma.slave_config(chan, dma.SlaveConfig(direction=Dir.MEM_TO_DEV, dst_addr=FIFO_BASE,
                                               dst_addr_width=W.BYTES_4))
        _, _, addr = _ring(board, 1024)
        dma.submit(dma.prep_dma_cyclic(chan, addr, 1024, 256, Dir.MEM_TO_DEV))
        dma.issue_pending(chan)
        chans.append(chan)
    return chans


def _release(chans):
    for c in chans:
        dma.terminate_sync(c)
        dma.release_channel(c)


def _copies(board, nr_chans, order):
    """``nr_chans`` memcpy channels and a 4000-byte copy issued on each in ``order``,
    channel i's to ``dst[4000 * i:]``; each callback appends its channel's index to
    ``done``. Returns (chans, src and its bus address, dst and its, done)."""
    chans = [dma.request_chan_by_mask(dma.Cap.MEMCPY) for _ in range(nr_chans)]
    pdev, src, s = _ring(board, 4000)
    dst, d = dma_alloc_coherent(pdev, 16000)
    done = []
    for i in order:
        tx = dma.prep_dma_memcpy(chans[i], d + 4000 * i, s, 4000, F.PREP_INTERRUPT)
        tx.callback = done.append
        tx.callback_param = i
        dma.submit(tx)
        dma.issue_pending(chans[i])
    return chans, src, s, dst, d, done


@pytest.mark.parametrize("gap_ns", [0, 8_000_000])
def test_a_freed_physical_channel_goes_to_the_channel_waiting_longest(gap_ns):
    """pl08x_phy_free picks the WAITING channel with the smallest ``waiting_at`` (jiffies),
    comparing with <=. memcpy3 and memcpy1 wait behind a long copy on the one free
    physical channel: issued in the same jiffy, the last in list order (memcpy3) wins;
    issued 8 ms (two jiffies) apart, the one waiting longer (memcpy3) wins. The
    first-in-list-order rule it replaced would run memcpy1 first both times."""
    board, _ = build(dmac_channels=4, dmac_bytes_per_us=1)  # the long copy takes 40 ms
    try:
        held = _hold_phys(board, 3)
        chans = [dma.request_chan_by_mask(dma.Cap.MEMCPY) for _ in range(4)]
        pdev, _, s = _ring(board, 40000)
        _, d = dma_alloc_coherent(pdev, 160000)
        done = []
        for i, n in ((0, 40000), (3, 4000), (1, 4000)):
            tx = dma.prep_dma_memcpy(chans[i], d + 40000 * i, s, n, F.PREP_INTERRUPT)
            tx.callback = done.append
            tx.callback_param = i
            dma.submit(tx)
            dma.issue_pending(chans[i])
            board.soc.clock.run_for(gap_ns if i == 3 else 0)
        assert [c.state.value for c in chans] == ["running", "waiting", "idle", "waiting"]
        assert board.soc.clock.run_until_true(lambda: len(done) == 3, 100 * MS)
        assert done == [0, 3, 1]
        for c in chans:
            dma.release_channel(c)
        _release(held)
    finally:
        board.remove()


def test_virtual_channels_share_fewer_physical_channels():
    board, _ = build(dmac_channels=4)
    try:
        drv = board.devices["dma0"].drvdata
        held = _hold_phys(board, 2)
        chans, src, _, dst, _, done = _copies(board, 4, range(4))
        states = [c.state.value for c in chans]
        assert states == ["running", "running", "waiting", "waiting"]
        assert board.soc.clock.run_until_true(lambda: len(done) == 4, MS)
        assert sorted(done) == [0, 1, 2, 3] and drv.phy_serving[2:] == [None, None]
        for i in range(4):
            np.testing.assert_array_equal(dst[4000 * i : 4000 * (i + 1)], src)
        for c in chans:
            dma.release_channel(c)
        _release(held)
    finally:
        board.remove()


# -- cyclic ----------------------------------------------------------------------


def test_cyclic_data_reaches_the_peripheral_in_ring_order(board_fifo):
    board, fifo = board_fifo
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    for _ in range(10):
        _request(board, 1000)
        board.soc.clock.run_for(0)  # let the bottom half run
    _, cpu, _, buf = ring
    expect = np.resize(cpu, 10000)
    np.testing.assert_array_equal(fifo.data(), expect)
    assert set(fifo.widths) == {2}
    assert len(calls) == 9  # 10000 bytes crossed 9 period ends, each callback ran
    _finish(chan, ring)


@pytest.mark.parametrize("moved,residue", [(0, 4096), (2, 4094), (1024, 3072), (1500, 2596),
                                           (4094, 2), (4096, 4096), (5000, 3192)])
def test_residue_at_exact_points_burst_granularity(board_fifo, moved, residue):
    board, _ = board_fifo
    chan, tx, cookie, _, ring = _start_cyclic(board)
    if moved:
        assert _request(board, moved) == moved
    status, state = dma.tx_status(chan, cookie)
    assert status == dma.DmaStatus.IN_PROGRESS and state.residue == residue
    _finish(chan, ring)


def test_long_period_is_split_into_llis_with_an_interrupt_on_each(board_fifo):
    """pl08x_prep_dma_cyclic sets the TC interrupt in every LLI of the ring, so a period
    longer than one LLI (4095 beats) signals each LLI's end, not just the period's."""
    board, fifo = board_fifo
    # 16384-byte periods at 2 bytes a beat: 4095-beat LLIs, three per period
    chan, tx, cookie, calls, ring = _start_cyclic(board, buf=65536, period=16384)
    assert [n for n in tx.lli_lens] == [8190, 8190, 4] * 4
    ctl = tx.lli_cpu[: 12 * 16].view("<u4").reshape(-1, 4)[:, 3]
    assert (ctl & hw.CTL_TC_IRQ).all()
    irq_before = board.soc.irqc.count[15]
    _request(board, 65536)
    board.soc.clock.run_for(0)
    assert board.soc.irqc.count[15] - irq_before == 12
    assert dma.tx_status(chan, cookie)[1].residue == 65536
    np.testing.assert_array_equal(fifo.data(), ring[1])
    _finish(chan, ring)


def test_cyclic_callbacks_coalesce_when_the_bottom_half_is_late(board_fifo):
    board, _ = board_fifo
    board.soc.cpu.bh_latency_ns = 5 * MS
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    for _ in range(6):  # six period ends, 1 ms apart, before the first tasklet runs
        _request(board, 1024)
        board.soc.clock.run_for(MS // 2)
    board.soc.clock.run_for(10 * MS)
    assert board.soc.irqc.count[15] >= 6
    assert len(calls) == 1 and chan.task.runs == 1
    _finish(chan, ring)


def test_no_callback_after_terminate_and_synchronize(board_fifo):
    board, _ = board_fifo
    board.soc.cpu.bh_latency_ns = MS
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    _request(board, 1024)  # a period elapsed: the tasklet is scheduled, not yet run
    assert chan.task.scheduled and calls == []
    dma.terminate_async(chan)
    with pytest.raises(dma.DmaEngineError, match="between terminate_async and synchronize") as e:
        dma.issue_pending(chan)
    assert e.value.errno == errno.EBUSY
    dma.synchronize(chan)
    assert not chan.task.scheduled and chan.desc_terminated == []
    board.soc.clock.run_for(10 * MS)
    assert _request(board, 1024) == 0  # the hardware is stopped
    assert calls == []
    # a terminated cyclic cookie never completes: the kernel reports it in progress, with
    # nothing left to transfer (pcm_dmaengine's pointer then reads 0)
    status, state = dma.tx_status(chan, cookie)
    assert status == dma.DmaStatus.IN_PROGRESS and state.residue == 0
    dma.release_channel(chan)
    pdev, _, addr, buf = ring
    dma_free_coherent(pdev, buf, addr)


def test_pause_and_resume(board_fifo):
    board, _ = board_fifo
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    _request(board, 100)
    dma.pause(chan)
    status, state = dma.tx_status(chan, cookie)
    assert status == dma.DmaStatus.PAUSED and state.residue == 3996
    assert _request(board, 100) == 0
    dma.resume(chan)
    assert _request(board, 100) == 100
    assert dma.tx_status(chan, cookie) [1].residue == 3896
    _finish(chan, ring)


def test_a_pause_that_times_out_is_logged_and_succeeds(board_fifo, caplog):
    """pl08x_pause_phy_chan: a channel still ACTIVE after HALT is reported with pr_err,
    and pl08x_pause returns 0 all the same. A stand-in channel that never goes inactive
    (the model's FIFO drains at once) reaches that path."""
    board, _ = board_fifo
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    drv = board.devices["dma0"].drvdata
    readl = drv.readl
    drv.readl = lambda off: readl(off) | (hw.CFG_ACTIVE if off % hw.CH_STRIDE == hw.CH_CONFIG
                                          and off >= hw.CH_BASE else 0)
    try:
        dma.pause(chan)  # no exception
    finally:
        drv.readl = readl
    assert dma.tx_status(chan, cookie)[0] == dma.DmaStatus.PAUSED
    assert "timeout waiting for pause" in caplog.text
    dma.resume(chan)
    _finish(chan, ring)


# -- errors ----------------------------------------------------------------------


def test_bus_error_gives_error_result_and_channel_recovers(board):
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    pdev, src, s = _ring(board, 4096)
    results = []
    bad = dma.prep_dma_memcpy(chan, 0x4000_0000, s, 4096, F.PREP_INTERRUPT)  # no RAM there
    bad.callback_result = lambda p, r: results.append(r.result)
    cookie = dma.submit(bad)
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    assert results == [dma.DmaTxResult.READ_FAILED]
    assert dma.tx_status(chan, cookie)[0] == dma.DmaStatus.ERROR
    dma.terminate_sync(chan)
    dst, d = dma_alloc_coherent(pdev, 4096)
    good = dma.prep_dma_memcpy(chan, d, s, 4096, F.PREP_INTERRUPT)
    cookie = dma.submit(good)
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    assert dma.tx_status(chan, cookie)[0] == dma.DmaStatus.COMPLETE
    np.testing.assert_array_equal(dst, src)
    dma.release_channel(chan)


def test_cyclic_bus_error_mid_stream(board_fifo):
    board, fifo = board_fifo
    chan = _tx_chan(board)
    tx = dma.prep_dma_cyclic(chan, 0x8000_0000 + (64 << 20) - 2048, 4096, 1024, Dir.MEM_TO_DEV,
                             F.PREP_INTERRUPT)  # the second half of the ring is past RAM
    results = []
    tx.callback_result = lambda p, r: results.append(r.result)
    cookie = dma.submit(tx)
    dma.issue_pending(chan)
    _request(board, 4096)
    board.soc.clock.run_for(0)
    assert results[-1] == dma.DmaTxResult.READ_FAILED
    assert dma.tx_status(chan, cookie)[0] == dma.DmaStatus.ERROR
    assert fifo.data().size == 2048
    dma.terminate_sync(chan)
    dma.release_channel(chan)


def test_bad_prep_arguments_give_none(board):
    chan = _tx_chan(board)
    pdev, _, addr = _ring(board, 4096)
    assert dma.prep_dma_cyclic(chan, addr, 0, 1024, Dir.MEM_TO_DEV) is None
    assert dma.prep_dma_cyclic(chan, addr, 4096, 0, Dir.MEM_TO_DEV) is None
    assert dma.prep_dma_cyclic(chan, addr, 4096, 1000, Dir.MEM_TO_DEV) is None  # not a divisor
    assert dma.prep_dma_cyclic(chan, addr, 4096, 1024, Dir.MEM_TO_MEM) is None
    assert dma.prep_dma_cyclic(chan, addr + 1, 4096, 1024, Dir.MEM_TO_DEV) is None  # misaligned
    assert dma.prep_dma_cyclic(chan, addr, 4095, 1365, Dir.MEM_TO_DEV) is None  # odd lengths
    assert dma.prep_slave_sg(chan, [], Dir.MEM_TO_DEV) is None
    assert dma.prep_slave_sg(chan, [(addr, 0)], Dir.MEM_TO_DEV) is None
    assert dma.prep_dma_memcpy(chan, addr, addr, 64) is None  # slave channels: no memcpy op
    # DEV_TO_MEM without a src_addr in the slave config: refused
    assert dma.prep_dma_cyclic(chan, addr, 4096, 1024, Dir.DEV_TO_MEM) is None
    dma.release_channel(chan)
    memcpy = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    assert dma.prep_dma_memcpy(memcpy, addr, addr, 0) is None
    assert dma.prep_dma_cyclic(memcpy, addr, 4096, 1024, Dir.MEM_TO_DEV) is None
    dma.release_channel(memcpy)


def test_slave_sg_dev_to_mem(board_fifo):
    board, fifo = board_fifo
    chan = dma.request_chan(board.devices["fifo0"], "rx")
    dma.slave_config(chan, dma.SlaveConfig(direction=Dir.DEV_TO_MEM, src_addr=FIFO_BASE,
                                           src_addr_width=W.BYTES_4, src_maxburst=4))
    pdev = board.devices["dma0"]
    buf, b = dma_alloc_coherent(pdev, 8192)
    tx = dma.prep_slave_sg(chan, [(b, 1000), (b + 4096, 2000)], Dir.DEV_TO_MEM, F.PREP_INTERRUPT)
    done = []
    tx.callback = done.append
    dma.submit(tx)
    dma.issue_pending(chan)
    assert board.soc.hw["dma0"].dma_request(6, 10_000, to_periph=False) == 3000
    board.soc.clock.run_for(0)
    assert len(done) == 1
    stream = (np.arange(3000) & 0xFF).astype(np.uint8)
    np.testing.assert_array_equal(buf[:1000], stream[:1000])
    np.testing.assert_array_equal(buf[4096:6096], stream[1000:])
    assert not buf[1000:4096].any()
    dma.release_channel(chan)


# -- reuse and dependencies ------------------------------------------------------------


def test_reuse_rules(board_fifo):
    board, fifo = board_fifo
    chan = _tx_chan(board)
    pdev, cpu, addr = _ring(board, 2048)
    tx = dma.prep_slave_single(chan, addr, 2048, Dir.MEM_TO_DEV, F.PREP_INTERRUPT)
    with pytest.raises(dma.DmaEngineError) as e:
        dma.desc_free(tx)  # not reusable: the client may not free it
    assert e.value.errno == errno.EPERM
    dma.desc_set_reuse(tx)
    first = dma.submit(tx)
    dma.issue_pending(chan)
    _request(board, 2048)
    board.soc.clock.run_for(0)
    assert dma.tx_status(chan, first)[0] == dma.DmaStatus.COMPLETE
    assert tx in chan.desc_allocated  # back on the allocated list, not freed
    second = dma.submit(tx)
    assert second == first + 1
    dma.issue_pending(chan)
    _request(board, 2048)
    board.soc.clock.run_for(0)
    np.testing.assert_array_equal(fifo.data(), np.concatenate([cpu, cpu]))
    dma.desc_free(tx)
    assert tx.lli_cpu is None and tx not in chan.desc_allocated
    dma.release_channel(chan)


def test_a_callback_runs_before_its_descriptor_is_freed_or_recycled(board_fifo):
    """vchan_complete invokes the callback, then vchan_vdesc_fini: in the callback the
    descriptor still has its LLIs and is on no list."""
    board, fifo = board_fifo
    chan = _tx_chan(board)
    pdev, cpu, addr = _ring(board, 2048)
    seen = []
    once = dma.prep_slave_single(chan, addr, 1024, Dir.MEM_TO_DEV, F.PREP_INTERRUPT)
    once.callback = lambda p: seen.append(("once", once.lli_cpu is not None))
    reused = dma.prep_slave_single(chan, addr + 1024, 1024, Dir.MEM_TO_DEV, F.PREP_INTERRUPT)
    dma.desc_set_reuse(reused)
    reused.callback = lambda p: seen.append(("reused", reused in chan.desc_allocated))
    dma.submit(once)
    dma.submit(reused)
    dma.issue_pending(chan)
    _request(board, 2048)
    assert board.soc.clock.run_until_true(lambda: len(seen) == 2, MS)
    assert seen == [("once", True), ("reused", False)]
    assert once.lli_cpu is None  # freed after its callback
    assert reused in chan.desc_allocated  # recycled after its callback
    np.testing.assert_array_equal(fifo.data(), cpu)
    dma.desc_free(reused)
    dma.release_channel(chan)


def test_a_terminated_reusable_descriptor_is_recycled_not_freed(board_fifo):
    """vchan_synchronize finishes the terminated descriptors with vchan_vdesc_fini: a
    reusable one goes back to desc_allocated and can be submitted again; releasing the
    channel frees it (vchan_free_chan_resources clears REUSE first)."""
    board, fifo = board_fifo
    chan = _tx_chan(board)
    pdev, cpu, addr = _ring(board, 2048)
    tx = dma.prep_slave_single(chan, addr, 2048, Dir.MEM_TO_DEV, F.PREP_INTERRUPT)
    dma.desc_set_reuse(tx)
    first = dma.submit(tx)
    dma.issue_pending(chan)
    _request(board, 1024)  # the FIFO takes half, then the transfer waits
    board.soc.clock.run_for(0)
    assert dma.tx_status(chan, first)[0] == dma.DmaStatus.IN_PROGRESS
    dma.terminate_sync(chan)
    assert tx in chan.desc_allocated and tx.lli_cpu is not None
    second = dma.submit(tx)
    assert second == first + 1
    dma.issue_pending(chan)
    _request(board, 2048)
    board.soc.clock.run_for(0)
    assert dma.tx_status(chan, second)[0] == dma.DmaStatus.COMPLETE
    np.testing.assert_array_equal(fifo.data(), np.concatenate([cpu[:1024], cpu]))
    dma.release_channel(chan)
    assert tx.lli_cpu is None and tx not in chan.desc_allocated


def test_reuse_refused_where_the_device_does_not_support_it():
    from soc.board import make_board
    from soc.platform import DtNode

    b = make_board(extra_nodes=[DtNode("f", "test,fifo", dmas=(("dma0", 1),), dma_names=("tx",))])
    b.nodes[0].props["descriptor-reuse"] = False
    b.populate()
    try:
        chan = dma.request_chan(b.devices["f"], "tx")
        dma.slave_config(chan, dma.SlaveConfig(dst_addr=FIFO_BASE, dst_addr_width=W.BYTES_4))
        _, addr = dma_alloc_coherent(b.devices["dma0"], 64)
        tx = dma.prep_slave_single(chan, addr, 64, Dir.MEM_TO_DEV)
        with pytest.raises(dma.DmaEngineError) as e:
            dma.desc_set_reuse(tx)
        assert e.value.errno == errno.EPERM
        dma.release_channel(chan)
    finally:
        b.remove()


def _chained_copies(board, a_chan, b_chan):
    """``a`` copies x to y on ``a_chan`` (fenced), ``b`` y to z on ``b_chan``; each
    callback appends (name, clock time) to ``order``. Returns (x, z, a, b, order)."""
    pdev, x, xa = _ring(board, 8192)
    y, ya = dma_alloc_coherent(pdev, 8192)
    z, za = dma_alloc_coherent(pdev, 8192)
    a = dma.prep_dma_memcpy(a_chan, ya, xa, 8192, F.PREP_INTERRUPT | F.PREP_FENCE)
    b = dma.prep_dma_memcpy(b_chan, za, ya, 8192, F.PREP_INTERRUPT)
    order = []
    a.callback = lambda p: order.append(("a", board.soc.clock.now_ns))
    b.callback = lambda p: order.append(("b", board.soc.clock.now_ns))
    return x, z, a, b, order


def test_a_dependency_on_the_same_channel_is_submitted_at_once(board):
    """async_tx_submit: a channel runs in order, so ``b`` behind ``a`` on one channel is
    submitted directly (a cookie, no -EBUSY parking) and still runs after ``a``."""
    from dma.async_tx import async_tx_submit

    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    x, z, a, b, order = _chained_copies(board, chan, chan)
    async_tx_submit(chan, a)
    async_tx_submit(chan, b, depend_tx=a)
    assert b.cookie == a.cookie + 1 and b.parent is None
    assert a.flags & F.CTRL_ACK  # async_tx_submit acks the dependency
    dma.issue_pending(chan)
    assert board.soc.clock.run_until_true(lambda: len(order) == 2, MS)
    assert [n for n, _ in order] == ["a", "b"]
    np.testing.assert_array_equal(z, x)
    dma.release_channel(chan)


def test_a_dependency_across_channels_without_interrupt_waits_for_its_parent(board):
    """async_tx_channel_switch: amba-pl08x's memcpy device has no DMA_INTERRUPT, so the
    submitter waits for ``a`` (dma_wait_for_async_tx issues it and polls) and then
    submits ``b``, which runs once its own channel is issued."""
    from dma.async_tx import async_tx_submit

    a_chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    b_chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    assert not a_chan.device.cap_mask & dma.Cap.INTERRUPT
    x, z, a, b, order = _chained_copies(board, a_chan, b_chan)
    async_tx_submit(a_chan, a)
    t0 = board.soc.clock.now_ns
    async_tx_submit(b_chan, b, depend_tx=a)  # returns once a is complete
    assert dma.tx_status(a_chan, a.cookie)[0] == dma.DmaStatus.COMPLETE
    assert board.soc.clock.now_ns - t0 >= 8192 * 1000 // 400  # a's whole length
    assert b.cookie > 0 and not z.any()  # submitted, not issued
    dma.issue_pending(b_chan)
    assert board.soc.clock.run_until_true(lambda: len(order) == 2, MS)
    assert [n for n, _ in order] == ["a", "b"]
    np.testing.assert_array_equal(z, x)
    dma.release_channel(a_chan)
    dma.release_channel(b_chan)


def test_virt_dma_completion_runs_no_dependencies(board):
    """vchan_complete never calls dma_run_dependencies: a chain hung on a PL08x
    descriptor (where only an async_tx provider's cleanup would run it) stays parked."""
    from dma.async_tx import txd_chain

    a_chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    b_chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    pdev, x, xa = _ring(board, 4096)
    y, ya = dma_alloc_coherent(pdev, 4096)
    z, za = dma_alloc_coherent(pdev, 4096)
    a = dma.prep_dma_memcpy(a_chan, ya, xa, 4096, F.PREP_INTERRUPT)
    b = dma.prep_dma_memcpy(b_chan, za, ya, 4096, F.PREP_INTERRUPT)
    dma.submit(a)
    txd_chain(a, b)
    dma.issue_pending(a_chan)
    board.soc.clock.run_for(MS)
    assert dma.tx_status(a_chan, a.cookie)[0] == dma.DmaStatus.COMPLETE
    assert b.cookie == -errno.EBUSY and not z.any()
    dma.release_channel(a_chan)
    dma.release_channel(b_chan)


def test_dma_api_debug_catches_misuse():
    from dma.mapping import (
        dma_debug_device_removed,
        dma_debug_errors,
        dma_debug_reset,
        dma_map_single,
        dma_sync_single_for_cpu,
        dma_unmap_single,
    )

    dma_debug_reset()
    board, _ = build()
    pdev = board.devices["dma0"]
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    cpu = np.zeros(256, np.uint8)
    src, s = dma_alloc_coherent(pdev, 256)
    src[:] = 9
    d = dma_map_single(pdev, cpu, DmaDataDirection.FROM_DEVICE)
    dma.submit(dma.prep_dma_memcpy(chan, d, s, 256))
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    assert not cpu.any()  # streaming: nothing visible before a sync
    dma_sync_single_for_cpu(pdev, d, 256, DmaDataDirection.FROM_DEVICE)
    assert (cpu == 9).all()
    assert dma_debug_errors() == []
    dma_sync_single_for_cpu(pdev, d, 256, DmaDataDirection.TO_DEVICE)
    dma_unmap_single(pdev, d, 256, DmaDataDirection.FROM_DEVICE)
    dma_unmap_single(pdev, d, 256, DmaDataDirection.FROM_DEVICE)
    # DMA into the freed mapping
    dma.submit(dma.prep_dma_memcpy(chan, d, s, 256))
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    errors = dma_debug_errors()
    assert any("syncs DMA memory with different direction" in e for e in errors)
    assert any("tries to unmap DMA memory it has not allocated" in e for e in errors)
    assert any("not mapped (or was freed)" in e for e in errors)
    dma.release_channel(chan)
    leaks = dma_debug_device_removed(pdev)
    assert leaks == [f"coherent {s:#010x}+256"]
    board.remove()


@pytest.mark.parametrize("size", [256, 128])
@pytest.mark.parametrize("direction", [DmaDataDirection.TO_DEVICE, DmaDataDirection.FROM_DEVICE])
@pytest.mark.parametrize("mapped_as", [DmaDataDirection.TO_DEVICE,
                                       DmaDataDirection.BIDIRECTIONAL])
@pytest.mark.parametrize("checked", [True, False])
def test_dma_debug_check_unmap(size, direction, mapped_as, checked):
    """kernel/dma/debug.c check_unmap: an unmap of another size, in another direction
    (compared exactly: a BIDIRECTIONAL mapping unmapped TO_DEVICE is one), or of a
    mapping never checked with dma_mapping_error is reported, each once; the mapping is
    undone all the same."""
    from dma.mapping import (
        dma_debug_errors,
        dma_debug_reset,
        dma_map_single,
        dma_mapping_error,
        dma_unmap_single,
    )

    board, _ = build()
    try:
        pdev = board.devices["dma0"]
        dma_debug_reset()
        addr = dma_map_single(pdev, np.zeros(256, np.uint8), mapped_as)
        if checked:
            assert dma_mapping_error(pdev, addr) == 0
        dma_unmap_single(pdev, addr, size, direction)
        expect = [m for m, wrong in (("frees DMA memory with different size", size != 256),
                                     ("frees DMA memory with different direction",
                                      direction != mapped_as),
                                     ("failed to check map error", not checked)) if wrong]
        errors = dma_debug_errors()
        assert len(errors) == len(expect), errors
        assert all(m in e for m, e in zip(expect, errors, strict=True)), errors
        dma_unmap_single(pdev, addr, 256, direction)  # undone: now an unknown address
        assert "has not allocated" in dma_debug_errors()[-1]
    finally:
        dma_debug_reset()
        board.remove()


def test_residue_of_an_issued_and_of_a_submitted_cookie_while_another_runs(board):
    """pl08x_dma_tx_status: a cookie on desc_issued has all its bytes left; one that is
    not (submitted, not issued) reads what the running descriptor has left."""
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    pdev, src, s = _ring(board, 10000)
    dst, d = dma_alloc_coherent(pdev, 10000)
    running = dma.submit(dma.prep_dma_memcpy(chan, d, s, 8000))
    queued = dma.submit(dma.prep_dma_memcpy(chan, d, s, 3000))
    dma.issue_pending(chan)
    unissued = dma.submit(dma.prep_dma_memcpy(chan, d, s, 5000))
    board.soc.clock.run_for(10_000)  # 4000 bytes of the first moved
    assert dma.tx_status(chan, running)[1].residue == 4000
    assert dma.tx_status(chan, queued)[1].residue == 3000
    assert dma.tx_status(chan, unissued)[1].residue == 4000  # the running one's
    dma.terminate_sync(chan)
    dma.release_channel(chan)


def test_nothing_moves_before_issue_pending(board):
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    pdev, src, s = _ring(board, 4096)
    dst, d = dma_alloc_coherent(pdev, 4096)
    cookie = dma.submit(dma.prep_dma_memcpy(chan, d, s, 4096))
    board.soc.clock.run_for(MS)
    status, state = dma.tx_status(chan, cookie)
    # not on desc_issued, nothing running: pl08x_getbytes_chan reads 0
    assert status == dma.DmaStatus.IN_PROGRESS and state.residue == 0 and not dst.any()
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    assert dma.tx_status(chan, cookie)[0] == dma.DmaStatus.COMPLETE
    np.testing.assert_array_equal(dst, src)
    dma.release_channel(chan)


def test_terminate_async_from_the_callback_itself(board_fifo):
    board, _ = board_fifo
    chan = _tx_chan(board)
    pdev, cpu, addr = _ring(board, 4096)
    tx = dma.prep_dma_cyclic(chan, addr, 4096, 1024, Dir.MEM_TO_DEV, F.PREP_INTERRUPT)
    calls = []

    def period_elapsed(param):
        calls.append(param)
        dma.terminate_async(chan)  # allowed in a callback; synchronize is not

    tx.callback = period_elapsed
    tx.callback_param = "sub"
    dma.submit(tx)
    dma.issue_pending(chan)
    _request(board, 1024)
    board.soc.clock.run_for(0)
    assert calls == ["sub"] and chan.terminating
    assert _request(board, 1024) == 0
    dma.synchronize(chan)
    assert not chan.terminating and chan.desc_terminated == []
    dma.release_channel(chan)


def test_release_of_the_last_user_synchronizes_and_frees(board_fifo):
    board, _ = board_fifo
    board.soc.cpu.bh_latency_ns = MS
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    extra = dma.prep_dma_cyclic(chan, ring[2], 4096, 1024, Dir.MEM_TO_DEV)
    _request(board, 1024)
    dma.terminate_async(chan)
    assert chan.task.scheduled and chan.desc_terminated == [tx]
    dma.release_channel(chan)
    assert not chan.task.scheduled and calls == []
    assert all(not lst for lst in chan._lists())
    assert tx.lli_cpu is None and extra.lli_cpu is None  # LLI memory given back
    pdev, _, addr, buf = ring
    dma_free_coherent(pdev, buf, addr)


def test_injected_bus_error_fires_once_and_the_channel_restarts(board):
    from soc.faults import FaultInjector

    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    pdev, src, s = _ring(board, 4096)
    dst, d = dma_alloc_coherent(pdev, 4096)
    FaultInjector(board.soc).bus_error(board.soc.clock.now_ns, s + 1024, 64)
    board.soc.clock.run_for(0)
    results = []
    for _ in range(2):
        tx = dma.prep_dma_memcpy(chan, d, s, 4096, F.PREP_INTERRUPT)
        tx.callback_result = lambda p, r: results.append(r.result)
        cookie = dma.submit(tx)
        dma.issue_pending(chan)
        board.soc.clock.run_for(MS)
        status = dma.tx_status(chan, cookie)[0]
        dma.terminate_sync(chan)
    assert results == [dma.DmaTxResult.READ_FAILED, dma.DmaTxResult.NOERROR]
    assert status == dma.DmaStatus.COMPLETE and not board.soc.bus.error_windows
    np.testing.assert_array_equal(dst, src)
    dma.release_channel(chan)


def test_residue_is_read_at_one_instant_while_another_thread_moves_the_hardware(board_fifo):
    """The card thread may advance the hardware between two of the driver's register reads.

    On silicon the reads are nanoseconds apart; here a whole card callback could fall
    between them and put the position a period behind (or ahead), which the PCM would
    then take for a buffer wrap. The driver's read of LLI and CONTROL must see one instant.
    """
    board, _ = board_fifo
    chan, tx, cookie, _, ring = _start_cyclic(board)
    _request(board, 1020)  # 4 bytes before the first period ends
    bus = board.soc.bus
    go, moved = threading.Event(), threading.Event()

    def card() -> None:
        go.wait()
        with bus.lock:
            _request(board, 8)  # into the second period
        moved.set()

    mover = threading.Thread(target=card)
    mover.start()
    read32 = bus.read32

    def read32_then_let_the_card_run(addr: int) -> int:
        value = read32(addr)
        if not go.is_set():
            go.set()
            moved.wait(0.3)  # the card gets its chance between the two reads
        return value

    bus.read32 = read32_then_let_the_card_run
    try:
        residue = dma.tx_status(chan, cookie)[1].residue
    finally:
        bus.read32 = read32
        mover.join()
    assert residue == 4096 - 1020
    assert dma.tx_status(chan, cookie)[1].residue == 4096 - 1028
    _finish(chan, ring)


def test_request_line_routing_follows_every_config_change(board_fifo):
    """Who serves a request line is worked out once per CONFIG change: a halt, a restart,
    a starved line and a channel that ends its chain must each be seen at once."""
    board, _ = board_fifo
    chan, tx, cookie, _, ring = _start_cyclic(board)
    dmac = board.soc.hw["dma0"]
    n = next(i for i, c in enumerate(dmac.channels) if c.enabled)
    cfg_addr = dmac.base + hw.CH_BASE + n * hw.CH_STRIDE + hw.CH_CONFIG
    cfg = board.soc.bus.read32(cfg_addr)
    assert _request(board, 8) == 8
    board.soc.bus.write32(cfg_addr, cfg | hw.CFG_HALT)
    assert _request(board, 8) == 0
    board.soc.bus.write32(cfg_addr, cfg & ~hw.CFG_HALT)
    assert _request(board, 8) == 8
    dmac.starve(TX_LINE, True)
    assert _request(board, 8) == 0
    dmac.starve(TX_LINE, False)
    assert _request(board, 8) == 8
    dmac.channels[n].lli = 0  # the chain ends with this LLI: the channel disables itself
    assert _request(board, 4096) == 1024 - 3 * 8
    assert not dmac.channels[n].enabled and _request(board, 8) == 0
    assert dmac.bytes_to_event(TX_LINE, True) is None
    assert dmac.burst_bytes(TX_LINE, True) is None
    _finish(chan, ring)
