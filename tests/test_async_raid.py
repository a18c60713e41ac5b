"""async_tx's RAID operations on the XOR and P+Q engine, and on the CPU where no channel
can do them: the same bytes as lib/raid6 either way; fences and dependencies within a
channel and across channels; a failed operation's dependents never run; descriptors
recycled as CTRL_ACK says; the registration refuses a capability without its op."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dma import async_raid as ar
from dma import raid6
from dma.consumer import issue_pending
from dma.core import DmaDevice, async_device_register, dmaengine_get, dmaengine_put
from dma.dmaengine import Cap, DmaStatus, DmaTxResult, SumCheck, SumCheckFlags
from dma.errors import DmaEngineError
from dma.mapping import dma_alloc_coherent, dma_free_coherent
from soc.board import make_board

F = ar.AsyncTxFlags


class Raid:
    """A board with the engine, for a ``with`` block; ``offload`` False leaves async_tx
    no channel (the CPU)."""

    def __init__(self, offload: bool = True) -> None:
        self.board = make_board(adma=True)
        self.board.populate()
        self.pdev = self.board.devices["adma0"]
        self.clock = self.board.soc.clock
        self.blocks: list[tuple[np.ndarray, int, int]] = []
        self.offload = offload
        if offload:
            dmaengine_get()

    def block(self, n: int, fill: np.ndarray | None = None):
        cpu, bus = dma_alloc_coherent(self.pdev, n)
        if fill is not None:
            cpu[:] = fill
        self.blocks.append((cpu, bus, n))
        return cpu, bus

    def run(self, *txs) -> None:
        for tx in txs:
            if tx is not None:
                issue_pending(tx.chan)
        assert self.clock.run_until_true(lambda: all(
            tx is None or tx.chan.device.device_tx_status(tx.chan, tx.cookie, None)
            in (DmaStatus.COMPLETE, DmaStatus.ERROR) for tx in txs), 10**10)

    def __enter__(self) -> Raid:
        return self

    def __exit__(self, *exc) -> None:
        if self.offload:
            dmaengine_put()
        for _, bus, n in self.blocks:
            dma_free_coherent(self.pdev, n, bus)
        self.board.remove()


def _data(k: int, n: int, seed: int) -> list[np.ndarray]:
    return [np.random.default_rng(seed + i).integers(0, 256, n, np.uint8) for i in range(k)]


@settings(max_examples=40)
@given(k=st.integers(1, 16), n=st.sampled_from([8, 64, 520, 4096]), seed=st.integers(0, 99),
       offload=st.booleans())
def test_gen_syndrome_and_its_validation_are_lib_raid6s(k, n, seed, offload):
    with Raid(offload) as r:
        arrays = _data(k, n, seed)
        data = [r.block(n, a) for a in arrays]
        p, q = r.block(n), r.block(n)
        calls: list[str] = []
        tx = ar.async_gen_syndrome(data, p, q, n, ar.AsyncSubmitCtl(
            F.ASYNC_TX_ACK, cb_fn=calls.append, cb_param="pq"))
        assert (tx is not None) == offload  # the engine, or the CPU at once
        r.run(tx)
        want_p, want_q = raid6.raid6_gen_syndrome(arrays)
        assert np.array_equal(p[0], want_p) and np.array_equal(q[0], want_q)
        res = SumCheck()
        r.run(ar.async_syndrome_val(data, p, q, n, res, ar.AsyncSubmitCtl()))
        assert res.flags == SumCheckFlags.NONE
        data[k // 2][0][n // 3] ^= 0x40  # a bit flipped on a data disk
        res = SumCheck()
        r.run(ar.async_syndrome_val(data, p, q, n, res, ar.AsyncSubmitCtl()))
        assert res.flags == SumCheckFlags.SUM_CHECK_P_RESULT | SumCheckFlags.SUM_CHECK_Q_RESULT
        assert calls == ["pq"]


@pytest.mark.parametrize("offload", [True, False])
def test_xor_and_its_validation(offload):
    with Raid(offload) as r:
        arrays = _data(5, 1024, 7)
        srcs = [r.block(1024, a) for a in arrays]
        dest = r.block(1024)
        r.run(ar.async_xor(dest, srcs, 1024, ar.AsyncSubmitCtl(F.ASYNC_TX_XOR_ZERO_DST)))
        assert np.array_equal(dest[0], raid6.xor_blocks(arrays))
        res = SumCheck()
        r.run(ar.async_xor_val([dest, *srcs], 1024, res, ar.AsyncSubmitCtl()))
        assert res.flags == SumCheckFlags.NONE
        srcs[0][0][5] ^= 1
        r.run(ar.async_xor_val([dest, *srcs], 1024, res, ar.AsyncSubmitCtl()))
        assert res.flags == SumCheckFlags.SUM_CHECK_P_RESULT


def test_a_fenced_xor_then_a_syndrome_of_its_result_run_in_order_on_one_channel():
    with Raid() as r:
        arrays = _data(4, 512, 3)
        srcs = [r.block(512, a) for a in arrays]
        x, p, q = r.block(512), r.block(512), r.block(512)
        order: list[str] = []
        a = ar.async_xor(x, srcs, 512, ar.AsyncSubmitCtl(
            F.ASYNC_TX_XOR_ZERO_DST | F.ASYNC_TX_FENCE, cb_fn=order.append, cb_param="xor"))
        b = ar.async_gen_syndrome([x, *srcs[:2]], p, q, 512, ar.AsyncSubmitCtl(
            depend_tx=a, cb_fn=order.append, cb_param="pq"))
        assert a is not None and b is not None and b.chan is a.chan  # submitted directly
        r.run(a, b)
        assert order == ["xor", "pq"]
        xv = raid6.xor_blocks(arrays)
        want_p, want_q = raid6.raid6_gen_syndrome([xv, *arrays[:2]])
        assert np.array_equal(p[0], want_p) and np.array_equal(q[0], want_q)


def test_a_dependency_across_channels_switches_channel_and_keeps_the_order():
    """async_memcpy takes the PL08x's memcpy channel (the first public one); the XOR
    that reads its copy runs on the engine: async_tx_channel_switch (the PL08x has no
    DMA_INTERRUPT, so the submitter waits for the copy)."""
    with Raid() as r:
        arrays = _data(3, 256, 11)
        srcs = [r.block(256, a) for a in arrays]
        copy, dest = r.block(256), r.block(256)
        order: list[str] = []
        a = ar.async_memcpy(copy, srcs[0], 256, ar.AsyncSubmitCtl(
            F.ASYNC_TX_FENCE, cb_fn=order.append, cb_param="copy"))
        assert a is not None and "adma" not in a.chan.device.dev.name
        issue_pending(a.chan)
        b = ar.async_xor(dest, [copy, *srcs[1:]], 256, ar.AsyncSubmitCtl(
            F.ASYNC_TX_XOR_ZERO_DST, depend_tx=a, cb_fn=order.append, cb_param="xor"))
        assert b is not None and b.chan is not a.chan
        r.run(b)
        assert order == ["copy", "xor"]
        assert np.array_equal(dest[0], raid6.xor_blocks(arrays))


def test_a_failed_operations_dependents_never_run():
    with Raid() as r:
        srcs = [r.block(128, a) for a in _data(2, 128, 1)]
        p, q = r.block(128), r.block(128)
        calls: list[str] = []
        a = ar.async_xor((np.zeros(128, np.uint8), 0x10), srcs, 128, ar.AsyncSubmitCtl(
            F.ASYNC_TX_XOR_ZERO_DST, cb_fn=calls.append, cb_param="xor"))  # dest: nowhere
        b = ar.async_gen_syndrome(srcs, p, q, 128, ar.AsyncSubmitCtl(depend_tx=a))
        results: list = []
        b.callback_result = lambda _, res: results.append(res.result)
        issue_pending(a.chan)
        r.clock.run_for(10**8)
        assert a.chan.device.device_tx_status(a.chan, a.cookie, None) == DmaStatus.ERROR
        # b, queued behind a on the channel, never ran: its result says ABORTED
        assert calls == ["xor"] and results == [DmaTxResult.ABORTED]
        assert not p[0].any() and not q[0].any()
        assert b.chan.device.device_tx_status(b.chan, b.cookie, None) == DmaStatus.ERROR


def test_descriptors_come_back_to_the_free_list_once_acked():
    with Raid() as r:
        srcs = [r.block(64, a) for a in _data(2, 64, 5)]
        dest = r.block(64)
        tx = ar.async_xor(dest, srcs, 64, ar.AsyncSubmitCtl(F.ASYNC_TX_XOR_ZERO_DST))
        r.run(tx)
        ch = tx.chan
        assert tx in ch.completed_slots and tx not in ch.free_slots  # not acked yet
        from dma.async_tx import async_tx_ack

        async_tx_ack(tx)
        r.run(ar.async_xor(dest, srcs, 64, ar.AsyncSubmitCtl(
            F.ASYNC_TX_XOR_ZERO_DST | F.ASYNC_TX_ACK)))
        assert tx in ch.free_slots


def test_registration_refuses_a_raid_capability_without_its_op():
    for cap in (Cap.XOR, Cap.XOR_VAL, Cap.PQ, Cap.PQ_VAL, Cap.INTERRUPT):
        dev = DmaDevice(dev="d", cap_mask=cap, device_tx_status=lambda *a: None,
                        device_issue_pending=lambda c: None)
        with pytest.raises(DmaEngineError) as e:
            async_device_register(dev)
        assert e.value.errno == errno.EIO and f"DMA_{cap.name}" in str(e.value)


@settings(max_examples=30)
@given(k=st.integers(2, 14), seed=st.integers(0, 99), offload=st.booleans(), pick=st.data())
def test_two_lost_data_disks_come_back_bit_exact(k, seed, offload, pick):
    """async_raid6_2data_recov, on the engine (a chain of fenced operations on one
    channel) or on the CPU: the two lost blocks rebuilt in place."""
    with Raid(offload) as r:
        n = 256
        arrays = _data(k, n, seed)
        data = [r.block(n, a) for a in arrays]
        p, q = r.block(n), r.block(n)
        r.run(ar.async_gen_syndrome(data, p, q, n, ar.AsyncSubmitCtl()))
        a = pick.draw(st.integers(0, k - 2))
        b = pick.draw(st.integers(a + 1, k - 1))
        data[a][0][:] = 0xA5  # lost
        data[b][0][:] = 0x5A
        done: list[str] = []
        tx = ar.async_raid6_2data_recov(k + 2, n, a, b, [*data, p, q], ar.AsyncSubmitCtl(
            F.ASYNC_TX_ACK, cb_fn=done.append, cb_param="recovered"))
        r.run(tx)
        assert done == ["recovered"]
        assert np.array_equal(data[a][0], arrays[a]) and np.array_equal(data[b][0], arrays[b])


def test_a_switch_from_the_engine_waits_behind_an_interrupt_descriptor():
    """A PL08x memcpy that depends on an engine XOR: async_tx_channel_switch queues a
    DMA_INTERRUPT descriptor behind the XOR on the engine's channel and chains the copy
    to it; the engine's cleanup runs dma_run_dependencies, which submits and issues the
    copy on the PL08x. Nothing waits on the CPU."""
    import dma
    from dma.async_tx import async_tx_submit

    with Raid() as r:
        arrays = _data(3, 256, 2)
        srcs = [r.block(256, a) for a in arrays]
        x, copy = r.block(256), r.block(256)
        a = ar.async_xor(x, srcs, 256, ar.AsyncSubmitCtl(
            F.ASYNC_TX_XOR_ZERO_DST | F.ASYNC_TX_FENCE))
        from dma.core import dma_find_channel

        m = dma_find_channel(Cap.MEMCPY)  # the first public one: a PL08x memcpy channel
        assert m is not None and "adma" not in m.device.dev.name
        b = dma.prep_dma_memcpy(m, copy[1], x[1], 256, dma.PrepFlags.PREP_INTERRUPT)
        order: list[str] = []
        b.callback = lambda _: order.append("copy")
        async_tx_submit(m, b, depend_tx=a)
        intr = b.parent  # b waits (-EBUSY) behind an interrupt descriptor queued after a
        assert b.cookie < 0 and intr is not None and intr.chan is a.chan and intr.next is b
        issue_pending(a.chan)
        assert r.clock.run_until_true(lambda: order == ["copy"], 10**9)
        assert np.array_equal(copy[0], raid6.xor_blocks(arrays))


def test_an_unaligned_length_goes_to_the_cpu_with_the_same_bytes():
    """The engine declares 8-byte xor_align and pq_align: a 100-byte syndrome is not
    offloaded (is_dma_pq_aligned), the CPU computes it."""
    with Raid() as r:
        arrays = _data(3, 100, 9)
        data = [r.block(100, a) for a in arrays]
        p, q = r.block(100), r.block(100)
        assert ar.async_gen_syndrome(data, p, q, 100, ar.AsyncSubmitCtl()) is None
        want_p, want_q = raid6.raid6_gen_syndrome(arrays)
        assert np.array_equal(p[0], want_p) and np.array_equal(q[0], want_q)
        assert ar.async_gen_syndrome(data, p, q, 96, ar.AsyncSubmitCtl()) is not None
