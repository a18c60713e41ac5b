"""Dependencies between operations: the submit half of the async_tx API.

Counterpart: crypto/async_tx/async_tx.c (``async_tx_submit``, ``async_tx_channel_switch``,
``dma_wait_for_async_tx``) and dmaengine.c's ``dma_sync_wait``.
"""

from __future__ import annotations

import errno

from dma.consumer import issue_pending, tx_status
from dma.core import DmaChan, issue_pending_op
from dma.dmaengine import AsyncTxDescriptor, Cap, DmaStatus, PrepFlags
from dma.errors import DmaEngineError

SYNC_WAIT_NS = 5_000_000_000  # msecs_to_jiffies(5000) in dma_sync_wait


def txd_chain(parent: AsyncTxDescriptor, tx: AsyncTxDescriptor) -> None:
    """``txd_chain``: ``tx`` runs once ``parent`` has (its cookie -EBUSY until then)."""
    parent.next = tx
    tx.parent = parent
    tx.cookie = -errno.EBUSY


def async_tx_ack(tx: AsyncTxDescriptor) -> None:
    """``async_tx_ack``: the client is done with ``tx``; the provider may recycle it."""
    tx.flags |= PrepFlags.CTRL_ACK


def async_tx_submit(chan: DmaChan, tx: AsyncTxDescriptor,
                    depend_tx: AsyncTxDescriptor | None = None, ack: bool = False) -> None:
    """``async_tx_submit``: submit ``tx`` on ``chan`` after ``depend_tx``.

    Parameters
    ----------
    chan : the channel ``tx`` was prepared on.
    tx : the operation.
    depend_tx : the operation whose result ``tx`` uses, or None.
    ack : ASYNC_TX_ACK: the client keeps no reference to ``tx``.
    """
    if depend_tx is None:
        tx.parent = None
        tx.tx_submit()
    elif depend_tx.parent is not None:  # the parent waits itself
        if depend_tx.chan is chan:
            txd_chain(depend_tx, tx)
        else:
            async_tx_channel_switch(depend_tx, tx)
    elif depend_tx.chan is chan:  # one channel runs in order: submit directly
        tx.parent = None
        tx.tx_submit()
    else:
        async_tx_channel_switch(depend_tx, tx)
    if ack:
        async_tx_ack(tx)
    if depend_tx is not None:
        async_tx_ack(depend_tx)


def async_tx_channel_switch(depend_tx: AsyncTxDescriptor, tx: AsyncTxDescriptor) -> None:
    """``async_tx_channel_switch``: ``tx`` on another channel than ``depend_tx``.

    Behind an interrupt descriptor on ``depend_tx``'s channel where that device has
    DMA_INTERRUPT; else the caller waits for ``depend_tx`` (the kernel panics where that
    wait fails; here DmaEngineError EIO)."""
    chan = depend_tx.chan
    device = chan.device
    if depend_tx.parent is not None and depend_tx.chan is tx.chan:
        txd_chain(depend_tx, tx)
        issue_pending_op(device)(chan)
        return
    intr_tx = None
    if device.cap_mask & Cap.INTERRUPT and device.device_prep_dma_interrupt is not None:
        intr_tx = device.device_prep_dma_interrupt(chan, PrepFlags.NONE)
    if intr_tx is None:
        if dma_wait_for_async_tx(depend_tx) != DmaStatus.COMPLETE:
            raise DmaEngineError(errno.EIO, f"{chan.name}: DMA error waiting for depend_tx")
        tx.parent = None
        tx.tx_submit()
        return
    intr_tx.callback = intr_tx.callback_result = None
    txd_chain(intr_tx, tx)
    if depend_tx.parent is not None:
        txd_chain(depend_tx, intr_tx)
    else:
        intr_tx.parent = None
        intr_tx.tx_submit()
    async_tx_ack(intr_tx)
    issue_pending_op(device)(chan)


def dma_wait_for_async_tx(tx: AsyncTxDescriptor | None) -> DmaStatus:
    """``dma_wait_for_async_tx``: wait (5 s at most) for ``tx`` to be submitted, then
    for it to complete."""
    if tx is None:
        return DmaStatus.COMPLETE
    clock = tx.chan.device.dev.soc.clock
    if tx.cookie == -errno.EBUSY and not clock.wait_until(
            lambda: tx.cookie != -errno.EBUSY, SYNC_WAIT_NS):
        return DmaStatus.ERROR
    return dma_sync_wait(tx.chan, tx.cookie)


def dma_sync_wait(chan: DmaChan, cookie: int) -> DmaStatus:
    """``dma_sync_wait``: issue pending work and wait (5 s at most) for ``cookie``."""
    issue_pending(chan)
    clock = chan.device.dev.soc.clock
    status = [tx_status(chan, cookie)[0]]

    def done() -> bool:
        status[0] = tx_status(chan, cookie)[0]
        return status[0] != DmaStatus.IN_PROGRESS

    if not clock.wait_until(done, SYNC_WAIT_NS):
        return DmaStatus.ERROR
    return status[0]
