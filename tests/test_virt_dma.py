"""virt-dma on the PL08x provider: descriptor lists, completion in the tasklet, callbacks
against terminate and synchronize."""

from __future__ import annotations

import errno

import numpy as np
import pytest

import dma
from dma.dmaengine import TransferDirection as Dir
from dma.mapping import dma_alloc_coherent, dma_free_coherent
from tests.dma_helpers import MS, F, _finish, _request, _ring, _start_cyclic, _tx_chan


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
