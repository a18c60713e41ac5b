"""The DMA API's debug checks (dma-debug): misuse caught, check_unmap's rules."""

from __future__ import annotations

import numpy as np
import pytest

import dma
from dma.mapping import DmaDataDirection, dma_alloc_coherent
from tests.conftest import build
from tests.dma_helpers import MS


def test_dma_api_debug_catches_misuse():
    from dma.mapping import (
        dma_debug_device_removed,
        dma_debug_errors,
        dma_debug_reset,
        dma_map_single,
        dma_sync_single_for_cpu,
        dma_unmap_single,
    )

    dma_debug_reset()
    board, _ = build()
    pdev = board.devices["dma0"]
    chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    cpu = np.zeros(256, np.uint8)
    src, s = dma_alloc_coherent(pdev, 256)
    src[:] = 9
    d = dma_map_single(pdev, cpu, DmaDataDirection.FROM_DEVICE)
    dma.submit(dma.prep_dma_memcpy(chan, d, s, 256))
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    assert not cpu.any()  # streaming: nothing visible before a sync
    dma_sync_single_for_cpu(pdev, d, 256, DmaDataDirection.FROM_DEVICE)
    assert (cpu == 9).all()
    assert dma_debug_errors() == []
    dma_sync_single_for_cpu(pdev, d, 256, DmaDataDirection.TO_DEVICE)
    dma_unmap_single(pdev, d, 256, DmaDataDirection.FROM_DEVICE)
    dma_unmap_single(pdev, d, 256, DmaDataDirection.FROM_DEVICE)
    # DMA into the freed mapping
    dma.submit(dma.prep_dma_memcpy(chan, d, s, 256))
    dma.issue_pending(chan)
    board.soc.clock.run_for(MS)
    errors = dma_debug_errors()
    assert any("syncs DMA memory with different direction" in e for e in errors)
    assert any("tries to unmap DMA memory it has not allocated" in e for e in errors)
    assert any("not mapped (or was freed)" in e for e in errors)
    dma.release_channel(chan)
    leaks = dma_debug_device_removed(pdev)
    pool = pdev.drvdata.pool  # the driver's LLI pool: its pages are still allocated
    pages = {f"coherent {bus:#010x}+{pool.allocation}" for _, bus in pool.pages}
    assert pages <= set(leaks)
    assert [leak for leak in leaks if leak not in pages] == [f"coherent {s:#010x}+256"]
    board.remove()


@pytest.mark.parametrize("size", [256, 128])
@pytest.mark.parametrize("direction", [DmaDataDirection.TO_DEVICE, DmaDataDirection.FROM_DEVICE])
@pytest.mark.parametrize("mapped_as", [DmaDataDirection.TO_DEVICE,
                                       DmaDataDirection.BIDIRECTIONAL])
@pytest.mark.parametrize("checked", [True, False])
def test_dma_debug_check_unmap(size, direction, mapped_as, checked):
    """kernel/dma/debug.c check_unmap: an unmap of another size, in another direction
    (compared exactly: a BIDIRECTIONAL mapping unmapped TO_DEVICE is one), or of a
    mapping never checked with dma_mapping_error is reported, each once; the mapping is
    undone all the same."""
    from dma.mapping import (
        dma_debug_errors,
        dma_debug_reset,
        dma_map_single,
        dma_mapping_error,
        dma_unmap_single,
    )

    board, _ = build()
    try:
        pdev = board.devices["dma0"]
        dma_debug_reset()
        addr = dma_map_single(pdev, np.zeros(256, np.uint8), mapped_as)
        if checked:
            assert dma_mapping_error(pdev, addr) == 0
        dma_unmap_single(pdev, addr, size, direction)
        expect = [m for m, wrong in (("frees DMA memory with different size", size != 256),
                                     ("frees DMA memory with different direction",
                                      direction != mapped_as),
                                     ("failed to check map error", not checked)) if wrong]
        errors = dma_debug_errors()
        assert len(errors) == len(expect), errors
        assert all(m in e for m, e in zip(expect, errors, strict=True)), errors
        dma_unmap_single(pdev, addr, 256, direction)  # undone: now an unknown address
        assert "has not allocated" in dma_debug_errors()[-1]
    finally:
        dma_debug_reset()
        board.remove()


def test_every_new_bus_is_watched_even_where_it_reuses_a_freed_buss_id():
    """DMA-API debug watches each board's bus once. A board built after another was
    removed often gets a bus at the freed one's address, so the same ``id``: whether a
    bus is watched must come from the bus itself. Here the bus keeps its ``id`` and loses
    its observers, as such a new bus would have none: the next mapping watches it again."""
    from dma.mapping import _debug, dma_alloc_coherent, dma_free_coherent

    board, _ = build()
    try:
        pdev = board.devices["dma0"]
        bus = board.soc.bus
        _, a = dma_alloc_coherent(pdev, 64)
        _, b = dma_alloc_coherent(pdev, 64)
        assert bus.dma_observers.count(_debug.check_access) == 1  # watched once
        bus.dma_observers.clear()  # a new bus where the old one was: the same id, unwatched
        _, c = dma_alloc_coherent(pdev, 64)
        assert bus.dma_observers.count(_debug.check_access) == 1
        for addr in (a, b, c):
            dma_free_coherent(pdev, 64, addr)
    finally:
        board.remove()
