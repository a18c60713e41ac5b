"""Types of the DMA engine API: directions, capabilities, flags, status, descriptors.

Counterpart: include/linux/dmaengine.h. Names are the kernel's without the ``DMA_``
prefix (``PrepFlags.PREP_INTERRUPT`` is ``DMA_PREP_INTERRUPT``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dma.core import DmaChan, DmaDevice


class DmaStatus(IntEnum):
    COMPLETE = 0
    IN_PROGRESS = 1
    PAUSED = 2
    ERROR = 3


class TransferDirection(IntEnum):
    MEM_TO_MEM = 0
    MEM_TO_DEV = 1
    DEV_TO_MEM = 2
    DEV_TO_DEV = 3
    TRANS_NONE = 4


def is_slave_direction(direction: TransferDirection) -> bool:
    return direction in (TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM)


class SlaveBuswidth(IntEnum):
    UNDEFINED = 0
    BYTES_1 = 1
    BYTES_2 = 2
    BYTES_3 = 3
    BYTES_4 = 4
    BYTES_8 = 8


class Cap(IntFlag):
    """``enum dma_transaction_type`` as a mask (``dma_cap_mask_t``)."""

    MEMCPY = 1 << 0
    XOR = 1 << 1
    PQ = 1 << 2
    XOR_VAL = 1 << 3
    PQ_VAL = 1 << 4
    MEMSET = 1 << 5
    MEMSET_SG = 1 << 6
    INTERRUPT = 1 << 7
    PRIVATE = 1 << 8
    ASYNC_TX = 1 << 9
    SLAVE = 1 << 10
    CYCLIC = 1 << 11
    INTERLEAVE = 1 << 12


class PrepFlags(IntFlag):
    """``enum dma_ctrl_flags``."""

    NONE = 0
    PREP_INTERRUPT = 1 << 0
    CTRL_ACK = 1 << 1
    PREP_PQ_DISABLE_P = 1 << 2
    PREP_PQ_DISABLE_Q = 1 << 3
    PREP_CONTINUE = 1 << 4
    PREP_FENCE = 1 << 5
    CTRL_REUSE = 1 << 6
    PREP_CMD = 1 << 7


class ResidueGranularity(IntEnum):
    DESCRIPTOR = 0
    SEGMENT = 1
    BURST = 2


class DmaTxResult(IntEnum):
    """``enum dmaengine_tx_result``."""

    NOERROR = 0
    READ_FAILED = 1
    WRITE_FAILED = 2
    ABORTED = 3


@dataclass
class DmaengineResult:
    result: DmaTxResult = DmaTxResult.NOERROR
    residue: int = 0


class TxState:
    """``struct dma_tx_state``: what ``tx_status`` reports besides the status."""

    def __init__(self, last: int = 0, used: int = 0, residue: int = 0,
                 in_flight_bytes: int = 0) -> None:
        self.last = last
        self.used = used
        self.residue = residue
        self.in_flight_bytes = in_flight_bytes

    def __repr__(self) -> str:
        return (f"TxState(last={self.last}, used={self.used}, residue={self.residue}, "
                f"in_flight_bytes={self.in_flight_bytes})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TxState) and (
            (self.last, self.used, self.residue, self.in_flight_bytes)
            == (other.last, other.used, other.residue, other.in_flight_bytes))


@dataclass
class SlaveConfig:
    """``struct dma_slave_config``: the peripheral end of slave transfers."""

    direction: TransferDirection = TransferDirection.TRANS_NONE
    src_addr: int = 0
    dst_addr: int = 0
    src_addr_width: int = SlaveBuswidth.UNDEFINED  # a SlaveBuswidth, or its value
    dst_addr_width: int = SlaveBuswidth.UNDEFINED  # a SlaveBuswidth, or its value
    src_maxburst: int = 0
    dst_maxburst: int = 0
    device_fc: bool = False


@dataclass
class SlaveCaps:
    """``struct dma_slave_caps``: widths and directions are bit masks (``BIT(width)``)."""

    src_addr_widths: int = 0
    dst_addr_widths: int = 0
    directions: int = 0
    min_burst: int = 0
    max_burst: int = 0
    max_sg_burst: int = 0
    cmd_pause: bool = False
    cmd_resume: bool = False
    cmd_terminate: bool = False
    residue_granularity: ResidueGranularity = ResidueGranularity.DESCRIPTOR
    descriptor_reuse: bool = False


Callback = Callable[[Any], None]
CallbackResult = Callable[[Any, DmaengineResult], None]


class AsyncTxDescriptor:
    """``struct dma_async_tx_descriptor``.

    ``cookie`` is 0 before submission (or after completion), > 0 once submitted, and
    ``-EBUSY`` while waiting on a dependency. ``next``/``parent`` chain a dependent
    operation behind this one (``txd_chain``).
    """

    def __init__(self, chan: DmaChan, flags: PrepFlags) -> None:
        self.chan = chan
        self.flags = PrepFlags(flags)
        self.cookie = 0
        self.callback: Callback | None = None
        self.callback_result: CallbackResult | None = None
        self.callback_param: Any = None
        self.next: AsyncTxDescriptor | None = None
        self.parent: AsyncTxDescriptor | None = None

    def tx_submit(self) -> int:
        raise NotImplementedError

    def desc_free(self) -> None:
        raise NotImplementedError

    def invoke_callback(self, result: DmaengineResult | None) -> None:
        """``dmaengine_desc_callback_invoke``: callback_result wins over callback."""
        if self.callback_result is not None:
            self.callback_result(self.callback_param, result or DmaengineResult())
        elif self.callback is not None:
            self.callback(self.callback_param)


def dma_async_tx_descriptor_init(tx: AsyncTxDescriptor, chan: DmaChan) -> None:
    """``dma_async_tx_descriptor_init``: bind a provider's embedded descriptor to its
    channel."""
    tx.chan = chan


DMA_HAS_PQ_CONTINUE = 1 << 15  # in max_pq: the engine continues a P+Q natively


class DmaengineAlignment(IntEnum):
    """``enum dmaengine_alignment``: log2 of an alignment in bytes."""

    ALIGN_1_BYTE = 0
    ALIGN_2_BYTES = 1
    ALIGN_4_BYTES = 2
    ALIGN_8_BYTES = 3
    ALIGN_16_BYTES = 4
    ALIGN_32_BYTES = 5
    ALIGN_64_BYTES = 6
    ALIGN_128_BYTES = 7
    ALIGN_256_BYTES = 8


class SumCheckFlags(IntFlag):
    """``enum sum_check_flags``: what a validation (XOR_VAL, PQ_VAL) found not zero."""

    NONE = 0
    SUM_CHECK_P_RESULT = 1 << 0
    SUM_CHECK_Q_RESULT = 1 << 1


class SumCheck:
    """Where a validation writes its ``enum sum_check_flags`` (the ``*result`` of
    ``device_prep_dma_xor_val`` and ``_pq_val``)."""

    def __init__(self) -> None:
        self.flags = SumCheckFlags.NONE


def dmaengine_check_align(align: int, off1: int, off2: int, length: int) -> bool:
    """``dmaengine_check_align``: offsets and length multiples of 2^align bytes."""
    return not align or not ((1 << align) - 1) & (off1 | off2 | length)


def is_dma_copy_aligned(dev: DmaDevice, off1: int, off2: int, length: int) -> bool:
    return dmaengine_check_align(dev.copy_align, off1, off2, length)


def is_dma_xor_aligned(dev: DmaDevice, off1: int, off2: int, length: int) -> bool:
    return dmaengine_check_align(dev.xor_align, off1, off2, length)


def is_dma_pq_aligned(dev: DmaDevice, off1: int, off2: int, length: int) -> bool:
    return dmaengine_check_align(dev.pq_align, off1, off2, length)


def is_dma_fill_aligned(dev: DmaDevice, off1: int, off2: int, length: int) -> bool:
    return dmaengine_check_align(dev.fill_align, off1, off2, length)


def dma_set_maxpq(dev: DmaDevice, maxpq: int, has_pq_continue: bool) -> None:
    """``dma_set_maxpq``: the sources of one P+Q, and whether the engine continues one."""
    dev.max_pq = maxpq | (DMA_HAS_PQ_CONTINUE if has_pq_continue else 0)


def dmaf_continue(flags: PrepFlags) -> bool:
    return flags & PrepFlags.PREP_CONTINUE == PrepFlags.PREP_CONTINUE


def dmaf_p_disabled_continue(flags: PrepFlags) -> bool:
    mask = PrepFlags.PREP_CONTINUE | PrepFlags.PREP_PQ_DISABLE_P
    return flags & mask == mask


def dma_dev_has_pq_continue(dev: DmaDevice) -> bool:
    return dev.max_pq & DMA_HAS_PQ_CONTINUE == DMA_HAS_PQ_CONTINUE


def dma_dev_to_maxpq(dev: DmaDevice) -> int:
    return dev.max_pq & ~DMA_HAS_PQ_CONTINUE


def dma_maxpq(dev: DmaDevice, flags: PrepFlags) -> int:
    """``dma_maxpq``: the sources a P+Q may take with ``flags``. An engine that cannot
    continue natively spends source slots on the old P and Q: 3 (1 with P disabled)."""
    if dma_dev_has_pq_continue(dev) or not dmaf_continue(flags):
        return dma_dev_to_maxpq(dev)
    if dmaf_p_disabled_continue(flags):
        return dma_dev_to_maxpq(dev) - 1
    return dma_dev_to_maxpq(dev) - 3


def async_tx_test_ack(tx: AsyncTxDescriptor) -> bool:
    """``async_tx_test_ack``: the client is done with ``tx`` (DMA_CTRL_ACK)."""
    return tx.flags & PrepFlags.CTRL_ACK == PrepFlags.CTRL_ACK


def async_tx_clear_ack(tx: AsyncTxDescriptor) -> None:
    tx.flags &= ~PrepFlags.CTRL_ACK
