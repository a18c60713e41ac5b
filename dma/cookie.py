"""Cookie bookkeeping shared by every provider.

Counterpart: drivers/dma/dmaengine.h (``dma_cookie_init``, ``dma_cookie_assign``,
``dma_cookie_complete``, ``dma_cookie_status``, ``dma_set_residue``). Cookies are signed
32-bit: they wrap from INT32_MAX back to ``DMA_MIN_COOKIE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from dma.dmaengine import AsyncTxDescriptor, DmaStatus, TxState

# DmaStatus's members as module constants: compiled code loads them without a lookup
_COMPLETE: Final = DmaStatus.COMPLETE
_IN_PROGRESS: Final = DmaStatus.IN_PROGRESS

if TYPE_CHECKING:
    from dma.core import DmaChan

DMA_MIN_COOKIE = 1
INT32_MAX = 2**31 - 1


def dma_cookie_init(chan: DmaChan) -> None:
    chan.cookie = DMA_MIN_COOKIE
    chan.completed_cookie = DMA_MIN_COOKIE


def dma_cookie_assign(tx: AsyncTxDescriptor) -> int:
    """Give ``tx`` the channel's next cookie (called with the channel lock held)."""
    chan = tx.chan
    cookie = chan.cookie + 1
    if cookie > INT32_MAX or cookie < DMA_MIN_COOKIE:  # a signed 32-bit overflow
        cookie = DMA_MIN_COOKIE
    tx.cookie = chan.cookie = cookie
    return cookie


def dma_cookie_complete(tx: AsyncTxDescriptor) -> None:
    if tx.cookie < DMA_MIN_COOKIE:
        raise RuntimeError(f"completing a descriptor with cookie {tx.cookie}: a double completion")
    tx.chan.completed_cookie = tx.cookie
    tx.cookie = 0


def dma_async_is_complete(cookie: int, last_complete: int, last_used: int) -> DmaStatus:
    """COMPLETE or IN_PROGRESS for ``cookie`` given the last completed and used."""
    if last_complete <= last_used:
        if cookie <= last_complete or cookie > last_used:
            return _COMPLETE
    elif cookie <= last_complete and cookie > last_used:
        return _COMPLETE
    return _IN_PROGRESS


def dma_cookie_status(chan: DmaChan, cookie: int, state: TxState | None) -> DmaStatus:
    used, complete = chan.cookie, chan.completed_cookie
    if state is not None:
        state.last, state.used, state.residue, state.in_flight_bytes = complete, used, 0, 0
    return dma_async_is_complete(cookie, complete, used)


def dma_set_residue(state: TxState | None, residue: int) -> None:
    if state is not None:
        state.residue = residue
