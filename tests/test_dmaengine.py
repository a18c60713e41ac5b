"""The consumer API's rules on the PL08x provider: descriptor reuse, async_tx
dependencies, residue by cookie, issue_pending, the release of the last user."""

from __future__ import annotations

import errno

import numpy as np
import pytest

import dma
from dma.dmaengine import SlaveBuswidth as W
from dma.dmaengine import TransferDirection as Dir
from dma.mapping import dma_alloc_coherent, dma_free_coherent
from tests.conftest import FIFO_BASE
from tests.dma_helpers import MS, F, _request, _ring, _start_cyclic, _tx_chan


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
