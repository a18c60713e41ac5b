"""The PL08x provider (amba-pl08x) on the PL080 model, through the consumer API on the
virtual clock: memcpy and memset, physical channel allocation, cyclic rings, pause,
errors."""

from __future__ import annotations

import numpy as np
import pytest

import dma
from dma.dmaengine import SlaveBuswidth as W
from dma.dmaengine import TransferDirection as Dir
from dma.drivers.pl08x import to_pl08x_chan
from dma.mapping import dma_alloc_coherent
from soc import pl080 as hw
from tests.conftest import FIFO_BASE, build
from tests.dma_helpers import MS, F, _finish, _request, _ring, _start_cyclic, _tx_chan

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
    from soc.faults import FaultInjector

    board, _ = board_fifo
    chan, tx, cookie, calls, ring = _start_cyclic(board)
    phy = to_pl08x_chan(chan).phychan
    assert phy is not None
    faults = FaultInjector(board.soc)
    faults.stuck_active(phy)
    try:
        dma.pause(chan)  # no exception
    finally:
        faults.stuck_active(phy, on=False)
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

