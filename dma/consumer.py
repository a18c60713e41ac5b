"""The consumer API: configure, prepare, submit, issue, query and stop transfers.

Counterpart: include/linux/dmaengine.h's inline helpers (``dmaengine_slave_config``,
``dmaengine_prep_*``, ``dmaengine_submit``, ``dma_async_issue_pending``,
``dmaengine_tx_status``, ``dmaengine_terminate_*``, ``dmaengine_synchronize``).
"""

from __future__ import annotations

import errno

from dma.core import DmaChan, issue_pending_op
from dma.dmaengine import (
    AsyncTxDescriptor,
    Cap,
    DmaStatus,
    PrepFlags,
    SlaveCaps,
    SlaveConfig,
    TransferDirection,
    TxState,
)
from dma.errors import DmaEngineError, einval


def get_slave_caps(chan: DmaChan | None) -> SlaveCaps:
    """``dma_get_slave_caps``: EINVAL without a channel, ENXIO for a non-slave device; a
    provider's ``device_caps`` then adjusts them for the channel."""
    if chan is None:
        raise einval("get_slave_caps: no channel")
    device = chan.device
    if not device.cap_mask & (Cap.SLAVE | Cap.CYCLIC):
        raise DmaEngineError(errno.ENXIO, f"{chan.name}: no slave capability")
    if not device.directions:
        raise DmaEngineError(errno.ENXIO, f"{chan.name}: device reports no directions")
    caps = SlaveCaps(
        src_addr_widths=device.src_addr_widths,
        dst_addr_widths=device.dst_addr_widths,
        directions=device.directions,
        min_burst=device.min_burst,
        max_burst=device.max_burst,
        max_sg_burst=device.max_sg_burst,
        cmd_pause=device.device_pause is not None,
        cmd_resume=device.device_resume is not None,
        cmd_terminate=device.device_terminate_all is not None,
        residue_granularity=device.residue_granularity,
        descriptor_reuse=device.descriptor_reuse,
    )
    if device.device_caps is not None:  # the provider adjusts them for this channel
        device.device_caps(chan, caps)
    return caps


def _check_side(caps: SlaveCaps, side: str, width: int, burst: int) -> None:
    if width and not getattr(caps, f"{side}_addr_widths") & (1 << width):
        raise einval(f"slave_config: {side}_addr_width {width} not supported by the channel")
    if burst and caps.max_burst and not caps.min_burst <= burst <= caps.max_burst:
        raise einval(
            f"slave_config: {side}_maxburst {burst} outside {caps.min_burst}..{caps.max_burst}"
        )


def slave_config(chan: DmaChan, config: SlaveConfig) -> None:
    """``dmaengine_slave_config``: the peripheral side of later prep calls on ``chan``.

    Parameters
    ----------
    chan : DmaChan
        A slave channel, from :func:`dma.request_chan`.
    config : SlaveConfig
        ``direction``; ``dst_addr``, ``dst_addr_width`` (bytes) and ``dst_maxburst``
        (words) for MEM_TO_DEV, the ``src_*`` fields for DEV_TO_MEM. A width or burst
        the channel's caps lack raises EINVAL.
    """
    if chan.device.device_config is None:
        raise DmaEngineError(errno.ENOSYS, f"{chan.name}: device_config not implemented")
    caps = get_slave_caps(chan)
    if config.direction != TransferDirection.TRANS_NONE and not caps.directions & (
        1 << config.direction
    ):
        raise einval(f"slave_config: direction {config.direction.name} not supported")
    _check_side(caps, "src", int(config.src_addr_width), config.src_maxburst)
    _check_side(caps, "dst", int(config.dst_addr_width), config.dst_maxburst)
    chan.device.device_config(chan, config)


def prep_dma_memcpy(
    chan: DmaChan, dst: int, src: int, length: int, flags: PrepFlags = PrepFlags.NONE
) -> AsyncTxDescriptor | None:
    """``dmaengine_prep_dma_memcpy``: copy ``length`` bytes from bus address ``src`` to
    ``dst``; None where the device cannot or the arguments are refused."""
    op = chan.device.device_prep_dma_memcpy
    return None if op is None else op(chan, dst, src, length, flags)


def prep_dma_memset(
    chan: DmaChan, dst: int, value: int, length: int, flags: PrepFlags = PrepFlags.NONE
) -> AsyncTxDescriptor | None:
    """``dmaengine_prep_dma_memset``: fill ``length`` bytes at ``dst`` with the byte
    ``value``; None where the device cannot."""
    op = chan.device.device_prep_dma_memset
    return None if op is None else op(chan, dst, value, length, flags)


def prep_slave_sg(
    chan: DmaChan,
    sgl: list[tuple[int, int]],
    direction: TransferDirection,
    flags: PrepFlags = PrepFlags.NONE,
) -> AsyncTxDescriptor | None:
    """``dmaengine_prep_slave_sg``; ``sgl`` is a list of (bus address, length)."""
    op = chan.device.device_prep_slave_sg
    return None if op is None else op(chan, sgl, direction, flags)


def prep_slave_single(
    chan: DmaChan,
    buf: int,
    length: int,
    direction: TransferDirection,
    flags: PrepFlags = PrepFlags.NONE,
) -> AsyncTxDescriptor | None:
    """``dmaengine_prep_slave_single``: one buffer of ``length`` bytes at ``buf``."""
    return prep_slave_sg(chan, [(buf, length)], direction, flags)


def prep_dma_cyclic(
    chan: DmaChan,
    buf_addr: int,
    buf_len: int,
    period_len: int,
    direction: TransferDirection,
    flags: PrepFlags = PrepFlags.NONE,
) -> AsyncTxDescriptor | None:
    """``dmaengine_prep_dma_cyclic``: a ring that the channel runs round until terminated.

    Parameters
    ----------
    chan : DmaChan
        A slave channel, configured by :func:`slave_config`.
    buf_addr : int
        The ring's bus address (from :func:`dma.mapping.dma_alloc_coherent`).
    buf_len, period_len : int
        The ring's bytes, and a period's: ``buf_len`` a whole number of periods.
    direction : TransferDirection
        MEM_TO_DEV (playback) or DEV_TO_MEM (capture).
    flags : PrepFlags
        PREP_INTERRUPT for a callback at each period's end.

    Returns
    -------
    AsyncTxDescriptor or None
        Set ``callback`` (or ``callback_result``) on it, then :func:`submit` and
        :func:`issue_pending`; None where the provider refuses the arguments.
    """
    op = chan.device.device_prep_dma_cyclic
    return None if op is None else op(chan, buf_addr, buf_len, period_len, direction, flags)


def submit(tx: AsyncTxDescriptor) -> int:
    """``dmaengine_submit``: assign a cookie; nothing runs until ``issue_pending``.
    Dependencies between operations are :func:`dma.async_tx.async_tx_submit`'s."""
    return tx.tx_submit()


def issue_pending(chan: DmaChan) -> None:
    """``dma_async_issue_pending``: start what was submitted."""
    if chan.terminating:
        raise DmaEngineError(
            errno.EBUSY,
            f"{chan.name}: issue_pending between terminate_async and synchronize is undefined",
        )
    for hook in chan.trace:
        hook("dma_issue_pending", f"chan={chan.name}")
    issue_pending_op(chan.device)(chan)


def tx_status(chan: DmaChan, cookie: int) -> tuple[DmaStatus, TxState]:
    """``dmaengine_tx_status``: the status of ``cookie`` and the channel's TxState."""
    state = TxState()
    op = chan.device.device_tx_status
    assert op is not None  # dma_async_device_register refuses a device without it
    status = op(chan, cookie, state)
    return status, state


def _op(chan: DmaChan, name: str):
    op = getattr(chan.device, name)
    if op is None:
        raise DmaEngineError(errno.ENOSYS, f"{chan.name}: {name} not implemented")
    return op


def pause(chan: DmaChan) -> None:
    _op(chan, "device_pause")(chan)


def resume(chan: DmaChan) -> None:
    _op(chan, "device_resume")(chan)


def terminate_async(chan: DmaChan) -> None:
    """``dmaengine_terminate_async``: stop the channel; a transfer or callback may still be
    finishing afterwards. EINVAL where the device has no ``device_terminate_all``."""
    if chan.device.device_terminate_all is None:
        raise DmaEngineError(errno.EINVAL, f"{chan.name}: device_terminate_all not implemented")
    for hook in chan.trace:
        hook("dma_terminate", f"chan={chan.name}")
    chan.device.device_terminate_all(chan)
    chan.terminating = True


def synchronize(chan: DmaChan) -> None:
    """Wait until the hardware stopped and every callback returned."""
    if chan.device.device_synchronize is not None:
        chan.device.device_synchronize(chan)
    chan.terminating = False


def terminate_sync(chan: DmaChan) -> None:
    terminate_async(chan)
    synchronize(chan)


def desc_set_reuse(tx: AsyncTxDescriptor) -> None:
    """``dmaengine_desc_set_reuse``: EPERM unless the channel supports reuse."""
    caps = get_slave_caps(tx.chan)
    if not caps.descriptor_reuse:
        raise DmaEngineError(errno.EPERM, f"{tx.chan.name}: descriptor reuse not supported")
    tx.flags |= PrepFlags.CTRL_REUSE


def desc_clear_reuse(tx: AsyncTxDescriptor) -> None:
    tx.flags &= ~PrepFlags.CTRL_REUSE


def desc_free(tx: AsyncTxDescriptor) -> None:
    """``dmaengine_desc_free``: only a reusable descriptor is freed by its user (EPERM)."""
    if not tx.flags & PrepFlags.CTRL_REUSE:
        raise DmaEngineError(errno.EPERM, "desc_free: descriptor is not marked CTRL_REUSE")
    tx.desc_free()
