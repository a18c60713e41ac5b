"""Cookie rules of drivers/dma/dmaengine.h, including the INT32 wrap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dma
from dma.cookie import (
    INT32_MAX,
    dma_async_is_complete,
    dma_cookie_assign,
    dma_cookie_complete,
    dma_cookie_init,
)
from dma.core import DmaChan, DmaDevice
from dma.dmaengine import AsyncTxDescriptor, DmaStatus, PrepFlags


def Chan() -> DmaChan:
    """A channel on no board, its cookies initialised as a provider's probe does."""
    chan = DmaChan(DmaDevice(dev=None))
    dma_cookie_init(chan)
    return chan


def test_first_cookie_is_two(board):
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    tx = dma.prep_dma_memcpy(chan, 0x8000_1000, 0x8000_0000, 64)
    assert dma.submit(tx) == 2
    tx2 = dma.prep_dma_memcpy(chan, 0x8000_1000, 0x8000_0000, 64)
    assert dma.submit(tx2) == 3
    dma.terminate_sync(chan)
    dma.release_channel(chan)


def test_assign_wraps_from_int32_max_to_one():
    chan = Chan()
    chan.cookie = INT32_MAX - 1
    a, b, c = (AsyncTxDescriptor(chan, PrepFlags.NONE) for _ in range(3))
    assert dma_cookie_assign(a) == INT32_MAX
    assert dma_cookie_assign(b) == 1
    assert dma_cookie_assign(c) == 2


def test_complete_clears_cookie_and_double_completion_is_refused():
    chan = Chan()
    tx = AsyncTxDescriptor(chan, PrepFlags.NONE)
    dma_cookie_assign(tx)
    dma_cookie_complete(tx)
    assert chan.completed_cookie == 2 and tx.cookie == 0
    with pytest.raises(RuntimeError, match="double completion"):
        dma_cookie_complete(tx)


@pytest.mark.parametrize(
    "cookie,complete,used,expected",
    [
        (5, 5, 9, DmaStatus.COMPLETE),  # done
        (6, 5, 9, DmaStatus.IN_PROGRESS),  # issued, not done
        (9, 5, 9, DmaStatus.IN_PROGRESS),
        (10, 5, 9, DmaStatus.COMPLETE),  # beyond used: treated as complete
        # used wrapped past INT32_MAX, complete has not
        (INT32_MAX, INT32_MAX - 2, 3, DmaStatus.IN_PROGRESS),
        (2, INT32_MAX - 2, 3, DmaStatus.IN_PROGRESS),
        (INT32_MAX - 3, INT32_MAX - 2, 3, DmaStatus.COMPLETE),
        (10, INT32_MAX - 2, 3, DmaStatus.COMPLETE),
        # both wrapped
        (1, 1, 3, DmaStatus.COMPLETE),
        (2, 1, 3, DmaStatus.IN_PROGRESS),
    ],
)
def test_status_formula_both_sides_of_the_wrap(cookie, complete, used, expected):
    assert dma_async_is_complete(cookie, complete, used) == expected


@given(start=st.integers(1, INT32_MAX), issued=st.integers(1, 50), done=st.integers(0, 50))
def test_status_matches_a_running_count(start, issued, done):
    """Against an independent model: cookies issued in order, the first ``done`` done."""
    done = min(done, issued)
    chan = Chan()
    chan.cookie = chan.completed_cookie = start
    txs = [AsyncTxDescriptor(chan, PrepFlags.NONE) for _ in range(issued)]
    cookies = [dma_cookie_assign(t) for t in txs]
    for t in txs[:done]:
        dma_cookie_complete(t)
    for i, c in enumerate(cookies):
        want = DmaStatus.COMPLETE if i < done else DmaStatus.IN_PROGRESS
        assert dma_async_is_complete(c, chan.completed_cookie, chan.cookie) == want
