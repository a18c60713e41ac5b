"""include/linux/dmaengine.h's RAID helpers: max_pq and DMA_HAS_PQ_CONTINUE (dma_set_maxpq,
dma_maxpq), the alignment checks, and the CTRL_ACK test."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dma.core import DmaDevice
from dma.dmaengine import (
    DMA_HAS_PQ_CONTINUE,
    AsyncTxDescriptor,
    PrepFlags,
    async_tx_clear_ack,
    async_tx_test_ack,
    dma_dev_has_pq_continue,
    dma_dev_to_maxpq,
    dma_maxpq,
    dma_set_maxpq,
    dmaengine_check_align,
    is_dma_pq_aligned,
    is_dma_xor_aligned,
)

F = PrepFlags


def test_dma_maxpq_spends_source_slots_on_a_continuation_the_engine_cannot_do():
    native, plain = DmaDevice(dev="d"), DmaDevice(dev="d")
    dma_set_maxpq(native, 16, True)
    dma_set_maxpq(plain, 16, False)
    assert native.max_pq == 16 | DMA_HAS_PQ_CONTINUE and dma_dev_has_pq_continue(native)
    assert dma_dev_to_maxpq(native) == dma_dev_to_maxpq(plain) == 16
    assert not dma_dev_has_pq_continue(plain)
    for flags in (F.NONE, F.PREP_PQ_DISABLE_P, F.PREP_CONTINUE,
                  F.PREP_CONTINUE | F.PREP_PQ_DISABLE_P):
        assert dma_maxpq(native, flags) == 16
    assert dma_maxpq(plain, F.NONE) == dma_maxpq(plain, F.PREP_PQ_DISABLE_P) == 16
    assert dma_maxpq(plain, F.PREP_CONTINUE) == 13  # old P and Q take 3 source slots
    assert dma_maxpq(plain, F.PREP_CONTINUE | F.PREP_PQ_DISABLE_P) == 15  # Q takes 1


@given(align=st.integers(0, 8), off1=st.integers(0, 4096), off2=st.integers(0, 4096),
       length=st.integers(1, 1 << 20))
def test_an_alignment_is_a_power_of_two_every_offset_and_the_length_are_multiples_of(
        align, off1, off2, length):
    ok = all(x % (1 << align) == 0 for x in (off1, off2, length))
    assert dmaengine_check_align(align, off1, off2, length) == ok
    dev = DmaDevice(dev="d", xor_align=align, pq_align=0)
    assert is_dma_xor_aligned(dev, off1, off2, length) == ok
    assert is_dma_pq_aligned(dev, off1, off2, length)  # 0: any alignment


def test_ctrl_ack_is_what_async_tx_test_ack_reads():
    from dma.core import DmaChan

    tx = AsyncTxDescriptor(DmaChan(DmaDevice(dev="d")), F.PREP_INTERRUPT)
    assert not async_tx_test_ack(tx)
    tx.flags |= F.CTRL_ACK
    assert async_tx_test_ack(tx)
    async_tx_clear_ack(tx)
    assert not async_tx_test_ack(tx) and tx.flags & F.PREP_INTERRUPT
