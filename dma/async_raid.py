"""async_tx's operations: memcpy, XOR, P+Q and their validations, and a RAID-6 recovery,
offloaded where a channel can do them and computed on the CPU where none can.

Counterpart: crypto/async_tx (async_memcpy.c, async_xor.c, async_pq.c,
async_raid6_recov.c) and ``struct async_submit_ctl``. A block is a buffer both sides
see: its CPU view and its bus address (coherent memory, as the tests and the demo
allocate it). Each operation takes the channel of its dependency if that channel can do
it, else ``dma_find_channel``'s; ``async_tx_submit`` chains it behind its dependency or
switches channel. With no channel, the CPU computes it (lib/raid6, xor_blocks) once the
dependency has completed (``async_tx_quiesce``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from dma import raid6
from dma.async_tx import async_tx_submit, dma_wait_for_async_tx
from dma.core import DmaChan, dma_find_channel
from dma.dmaengine import (
    AsyncTxDescriptor,
    Cap,
    PrepFlags,
    SumCheck,
    SumCheckFlags,
    dma_maxpq,
    is_dma_copy_aligned,
    is_dma_pq_aligned,
    is_dma_xor_aligned,
)

Block = tuple[np.ndarray, int]  # (CPU view, bus address)

# trace hooks: fn(message) for each operation, where it went (a channel, chained behind
# its dependency or switched from another channel, fenced or not), or the CPU
trace: list[Any] = []


class AsyncTxFlags(enum.IntFlag):
    """``enum async_tx_flags``."""

    NONE = 0
    ASYNC_TX_XOR_ZERO_DST = 1 << 0  # the destination is not a source
    ASYNC_TX_XOR_DROP_DST = 1 << 1  # the destination was given as the first source
    ASYNC_TX_ACK = 1 << 2
    ASYNC_TX_FENCE = 1 << 3
    ASYNC_TX_PQ_XOR_DST = 1 << 4


@dataclass
class AsyncSubmitCtl:
    """``struct async_submit_ctl`` (``init_async_submit``)."""

    flags: AsyncTxFlags = AsyncTxFlags.NONE
    depend_tx: AsyncTxDescriptor | None = None
    cb_fn: Any = None
    cb_param: Any = None


def _aligned(check, dev, blocks: list[Block], length: int) -> bool:
    """``is_dma_*_aligned`` over every block's address and the length: an operation the
    device cannot take as it is goes to the CPU, as async_tx sends it."""
    addrs = [b[1] for b in blocks]
    return all(check(dev, a, addrs[0], length) for a in addrs)


def _prep_flags(submit: AsyncSubmitCtl) -> PrepFlags:
    flags = PrepFlags.PREP_INTERRUPT if submit.cb_fn is not None else PrepFlags.NONE
    if submit.flags & AsyncTxFlags.ASYNC_TX_FENCE:
        flags |= PrepFlags.PREP_FENCE
    return flags


def async_tx_find_channel(submit: AsyncSubmitCtl, cap: Cap) -> DmaChan | None:
    """The dependency's channel where it has ``cap``, else any public one with it."""
    dep = submit.depend_tx
    if dep is not None and dep.chan.device.cap_mask & cap:
        return dep.chan
    return dma_find_channel(cap)


def async_tx_quiesce(tx: AsyncTxDescriptor | None) -> None:
    """``async_tx_quiesce``: wait for ``tx`` (before the CPU touches what it writes)."""
    if tx is not None:
        dma_wait_for_async_tx(tx)


def _say(what: str) -> None:
    for hook in trace:
        hook(what)


def _submit(chan: DmaChan, tx: AsyncTxDescriptor, submit: AsyncSubmitCtl,
            name: str) -> AsyncTxDescriptor:
    if trace:
        dep = submit.depend_tx
        how = ("" if dep is None else " after " + (
            "its dependency on the same channel" if dep.chan is chan else
            f"a channel switch from {dep.chan.name}"))
        fence = " (fenced)" if tx.flags & PrepFlags.PREP_FENCE else ""
        _say(f"{name}: {chan.name}{fence}{how}")
    tx.callback = submit.cb_fn
    tx.callback_param = submit.cb_param
    async_tx_submit(chan, tx, submit.depend_tx, bool(submit.flags & AsyncTxFlags.ASYNC_TX_ACK))
    return tx


def _sync_done(submit: AsyncSubmitCtl, name: str) -> None:
    """``async_tx_sync_epilog``: the CPU did it; run the callback now."""
    if trace:
        _say(f"{name}: the CPU (no channel can)")
    if submit.cb_fn is not None:
        submit.cb_fn(submit.cb_param)


def async_memcpy(dest: Block, src: Block, length: int,
                 submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    chan = async_tx_find_channel(submit, Cap.MEMCPY)
    op = chan.device.device_prep_dma_memcpy if chan is not None else None
    if chan is not None and not _aligned(is_dma_copy_aligned, chan.device, [dest, src],
                                         length):
        op = None
    tx = op(chan, dest[1], src[1], length, _prep_flags(submit)) if op else None
    if chan is not None and tx is not None:
        return _submit(chan, tx, submit, "async_memcpy")
    async_tx_quiesce(submit.depend_tx)
    dest[0][:length] = src[0][:length]
    _sync_done(submit, "async_memcpy")
    return None


def async_xor(dest: Block, srcs: list[Block], length: int,
              submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    """``async_xor``: dest = the XOR of ``srcs`` (with DROP_DST, srcs[0] is dest and is
    left out; without ZERO_DST, dest is a source too)."""
    if submit.flags & AsyncTxFlags.ASYNC_TX_XOR_DROP_DST:
        srcs = srcs[1:]
    if not submit.flags & AsyncTxFlags.ASYNC_TX_XOR_ZERO_DST:
        srcs = [dest, *srcs]
    chan = async_tx_find_channel(submit, Cap.XOR)
    dev = chan.device if chan is not None else None
    if chan is not None and dev is not None and dev.device_prep_dma_xor is not None and (
            len(srcs) <= dev.max_xor) and _aligned(is_dma_xor_aligned, dev, [dest, *srcs],
                                                   length):
        tx = dev.device_prep_dma_xor(chan, dest[1], [s[1] for s in srcs], len(srcs), length,
                                     _prep_flags(submit))
        if tx is not None:
            return _submit(chan, tx, submit, "async_xor")
    async_tx_quiesce(submit.depend_tx)
    dest[0][:length] = raid6.xor_blocks([s[0][:length] for s in srcs])
    _sync_done(submit, "async_xor")
    return None


def async_xor_val(srcs: list[Block], length: int, result: SumCheck,
                  submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    """``async_xor_val``: ``result`` says whether the XOR of ``srcs`` (parity first) is
    not zero."""
    chan = async_tx_find_channel(submit, Cap.XOR_VAL)
    dev = chan.device if chan is not None else None
    if chan is not None and dev is not None and dev.device_prep_dma_xor_val is not None and (
            _aligned(is_dma_xor_aligned, dev, srcs, length)):
        tx = dev.device_prep_dma_xor_val(chan, [s[1] for s in srcs], len(srcs), length,
                                         result, _prep_flags(submit))
        if tx is not None:
            return _submit(chan, tx, submit, "async_xor_val")
    async_tx_quiesce(submit.depend_tx)
    zero = not raid6.xor_blocks([s[0][:length] for s in srcs]).any()
    result.flags = SumCheckFlags.NONE if zero else SumCheckFlags.SUM_CHECK_P_RESULT
    _sync_done(submit, "async_xor_val")
    return None


def _coefs(n: int) -> bytes:
    return bytes(int(raid6.raid6_gfexp[i]) for i in range(n))


def async_gen_syndrome(data: list[Block], p: Block, q: Block, length: int,
                       submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    """``async_gen_syndrome``: P and Q of the data blocks (Q with g^i)."""
    return _gen_syndrome(data, list(range(len(data))), p, q, length, submit)


def async_syndrome_val(data: list[Block], p: Block, q: Block, length: int, result: SumCheck,
                       submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    """``async_syndrome_val``: ``result`` says whether P or Q no longer match the data."""
    chan = async_tx_find_channel(submit, Cap.PQ_VAL)
    dev = chan.device if chan is not None else None
    if chan is not None and dev is not None and dev.device_prep_dma_pq_val is not None and (
            _aligned(is_dma_pq_aligned, dev, [p, q, *data], length)):
        tx = dev.device_prep_dma_pq_val(chan, [p[1], q[1]], [d[1] for d in data], len(data),
                                        _coefs(len(data)), length, result,
                                        _prep_flags(submit))
        if tx is not None:
            return _submit(chan, tx, submit, "async_syndrome_val")
    async_tx_quiesce(submit.depend_tx)
    pp, qq = raid6.raid6_gen_syndrome([d[0][:length] for d in data])
    result.flags = SumCheckFlags(
        (SumCheckFlags.SUM_CHECK_P_RESULT if (pp ^ p[0][:length]).any() else 0)
        | (SumCheckFlags.SUM_CHECK_Q_RESULT if (qq ^ q[0][:length]).any() else 0))
    _sync_done(submit, "async_syndrome_val")
    return None


def async_sum_product(dest: Block, srcs: list[Block], coef: bytes, length: int,
                      submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    """``async_sum_product``: dest = coef[0] srcs[0] + coef[1] srcs[1], as a P+Q with P
    disabled where a channel has PQ."""
    chan = async_tx_find_channel(submit, Cap.PQ)
    dev = chan.device if chan is not None else None
    flags = _prep_flags(submit) | PrepFlags.PREP_PQ_DISABLE_P
    if chan is not None and dev is not None and dev.device_prep_dma_pq is not None:
        tx = dev.device_prep_dma_pq(chan, [dest[1], dest[1]], [s[1] for s in srcs], 2,
                                    bytes(coef[:2]), length, flags)
        if tx is not None:
            return _submit(chan, tx, submit, "async_sum_product")
    async_tx_quiesce(submit.depend_tx)
    dest[0][:length] = (raid6.gf_mul(coef[0], srcs[0][0][:length])
                        ^ raid6.gf_mul(coef[1], srcs[1][0][:length]))
    _sync_done(submit, "async_sum_product")
    return None


def async_raid6_2data_recov(disks: int, length: int, faila: int, failb: int,
                            blocks: list[Block],
                            submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    """``async_raid6_2data_recov``: data blocks ``faila`` < ``failb`` rebuilt in place
    from the others, P (``blocks[disks - 2]``) and Q (``blocks[disks - 1]``): the syndrome
    of the survivors into the two dead blocks, each XORed with P and Q (fenced), their
    sum-product (A and B from raid6_gfexi and raid6_gfinv) gives Db, and Db with the P
    delta gives Da. Each step depends on the one before."""
    if not 0 <= faila < failb < disks - 2:
        raise ValueError(f"async_raid6_2data_recov: disks {faila} and {failb} of {disks}")
    p, q = blocks[disks - 2], blocks[disks - 1]
    dp, dq = blocks[faila], blocks[failb]
    survivors = [b for i, b in enumerate(blocks[:disks - 2]) if i not in (faila, failb)]
    survivor_idx = [i for i in range(disks - 2) if i not in (faila, failb)]
    fence = AsyncTxFlags.ASYNC_TX_FENCE
    # the survivors' syndrome, their own coefficients g^i, into the dead blocks
    tx = _gen_syndrome(survivors, survivor_idx, dp, dq, length,
                       AsyncSubmitCtl(fence, submit.depend_tx))
    tx = async_xor(dp, [dp, p], length, AsyncSubmitCtl(
        fence | AsyncTxFlags.ASYNC_TX_XOR_DROP_DST, tx)) or tx  # P + Pxy
    tx = async_xor(dq, [dq, q], length, AsyncSubmitCtl(
        fence | AsyncTxFlags.ASYNC_TX_XOR_DROP_DST, tx)) or tx  # Q + Qxy
    coef = bytes((int(raid6.raid6_gfexi[failb - faila]),
                  int(raid6.raid6_gfinv[raid6.raid6_gfexp[faila] ^ raid6.raid6_gfexp[failb]])))
    tx = async_sum_product(dq, [dp, dq], coef, length, AsyncSubmitCtl(fence, tx)) or tx
    return async_xor(dp, [dp, dq], length, AsyncSubmitCtl(
        submit.flags | AsyncTxFlags.ASYNC_TX_XOR_DROP_DST, tx, submit.cb_fn,
        submit.cb_param))


def _gen_syndrome(data: list[Block], idx: list[int], p: Block, q: Block, length: int,
                  submit: AsyncSubmitCtl) -> AsyncTxDescriptor | None:
    """P and Q of ``data`` whose places in the array are ``idx`` (Q with g^idx): on a
    channel with PQ where the sources fit and the blocks are aligned, else the CPU."""
    coefs = bytes(int(raid6.raid6_gfexp[i]) for i in idx)
    chan = async_tx_find_channel(submit, Cap.PQ)
    dev = chan.device if chan is not None else None
    flags = _prep_flags(submit)
    if data and chan is not None and dev is not None and dev.device_prep_dma_pq is not None \
            and len(data) <= dma_maxpq(dev, flags) \
            and _aligned(is_dma_pq_aligned, dev, [p, q, *data], length):
        tx = dev.device_prep_dma_pq(chan, [p[1], q[1]], [d[1] for d in data], len(data),
                                    coefs, length, flags)
        if tx is not None:
            return _submit(chan, tx, submit, "async_gen_syndrome")
    async_tx_quiesce(submit.depend_tx)
    if data:
        pp, qq = raid6.raid6_gen_syndrome([d[0][:length] for d in data], list(coefs))
    else:
        pp = qq = np.zeros(length, np.uint8)
    p[0][:length], q[0][:length] = pp, qq
    _sync_done(submit, "async_gen_syndrome")
    return None
