"""dma/dmapool.py, the pool the PL08x's LLIs come from (mm/dmapool.c): blocks are aligned,
never overlap, come back on free, and misuse is reported."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from dma.dmapool import PAGE_SIZE, dma_pool_alloc, dma_pool_create, dma_pool_destroy, dma_pool_free
from dma.mapping import dma_debug_device_removed
from soc.board import make_board


@given(size=st.integers(1, 9000), align=st.sampled_from([1, 8, 64]),
       ops=st.lists(st.integers(-1, 40), max_size=60))
def test_blocks_are_aligned_disjoint_and_reused(size, align, ops):
    """``ops``: n >= 0 allocates, -1 frees the oldest block in use."""
    board = make_board()
    board.populate()
    pool = dma_pool_create("test", board.devices["dma0"], size, align)
    held: list[int] = []
    try:
        for op in ops:
            if op < 0 and held:
                bus = held.pop(0)
                dma_pool_free(pool, bus)
                assert pool.free[-1] == bus  # the last freed is the next handed out
                again = dma_pool_alloc(pool)
                assert again is not None and again[1] == bus
                held.append(bus)
            elif op >= 0:
                block = dma_pool_alloc(pool)
                assert block is not None
                view, bus = block
                assert bus % align == 0 and len(view) >= size and not view.any()
                view[:] = op + 1
                held.append(bus)
        spans = sorted((bus, bus + pool.size) for bus in held)
        assert all(a_end <= b for (_, a_end), (b, _) in zip(spans, spans[1:], strict=False))
        per_page = pool.allocation // pool.size
        assert len(pool.pages) == -(-len(held) // per_page)  # no page taken before it is needed
        assert pool.allocation == max(PAGE_SIZE, pool.size)
    finally:
        for bus in held:
            dma_pool_free(pool, bus)
        dma_pool_destroy(pool)
        board.remove()


def test_a_double_free_and_a_busy_destroy_are_reported(caplog):
    board = make_board()
    board.populate()
    pdev = board.devices["dma0"]
    pool = dma_pool_create("twice", pdev, 64, 8)
    with caplog.at_level(logging.ERROR):
        _, a = dma_pool_alloc(pool)
        _, b = dma_pool_alloc(pool)
        dma_pool_free(pool, a)
        dma_pool_free(pool, a)
        assert "already free" in caplog.text
        page = pool.pages[0][1]
        dma_pool_destroy(pool)
        assert "1 blocks busy" in caplog.text
    assert not pool.pages and not pool.in_use
    assert not any(leak.startswith(f"coherent {page:#010x}")  # its page went back
                   for leak in dma_debug_device_removed(pdev))
    board.remove()
