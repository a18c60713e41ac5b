"""DMA pools: blocks of one size for hardware descriptors, carved from coherent pages.

Counterpart: mm/dmapool.c (``dma_pool_create``, ``dma_pool_alloc``, ``dma_pool_free``,
``dma_pool_destroy``). A provider that builds descriptors the hardware reads (the PL08x's
LLIs) takes one block a transfer; a freed block goes back on the pool's free list and is
handed out again before a new page is taken.
"""

from __future__ import annotations

import errno
import logging

import numpy as np

from dma.errors import DmaEngineError
from dma.mapping import DmaCapableDevice, dma_alloc_coherent, dma_free_coherent

PAGE_SIZE = 4096

log = logging.getLogger(__name__)


class DmaPool:
    """``struct dma_pool``: its pages, and the blocks free in them."""

    def __init__(self, name: str, dev: DmaCapableDevice, size: int, align: int) -> None:
        self.name, self.dev = name, dev
        self.size = -(-size // align) * align
        self.allocation = max(PAGE_SIZE, self.size)
        self.pages: list[tuple[np.ndarray, int]] = []  # (CPU view, bus address)
        self.free: list[int] = []  # bus addresses of free blocks, the last freed first
        self.in_use: dict[int, np.ndarray] = {}
        self.views: dict[int, np.ndarray] = {}  # every block's CPU view, by bus address

    def add_page(self) -> None:
        """``pool_alloc_page``: a coherent page more, cut into blocks."""
        cpu, bus = dma_alloc_coherent(self.dev, self.allocation)
        self.pages.append((cpu, bus))
        per = self.allocation // self.size
        self.free.extend(bus + i * self.size for i in reversed(range(per)))
        for i in range(per):
            self.views[bus + i * self.size] = cpu[i * self.size:(i + 1) * self.size]


def dma_pool_create(name: str, dev: DmaCapableDevice, size: int, align: int) -> DmaPool:
    """A pool of ``size``-byte blocks aligned to ``align`` (a power of two)."""
    if size <= 0 or align <= 0 or align & (align - 1):
        raise DmaEngineError(errno.EINVAL, f"dma_pool_create {name}: size {size} align {align}")
    return DmaPool(name, dev, size, align)


def dma_pool_alloc(pool: DmaPool) -> tuple[np.ndarray, int] | None:
    """A block: (CPU view, bus address), zeroed; None when no memory is left (ENOMEM)."""
    if not pool.free:
        try:
            pool.add_page()
        except DmaEngineError:
            return None
    bus = pool.free.pop()
    view = pool.views[bus]
    view[:] = 0
    pool.in_use[bus] = view
    return view, bus


def dma_pool_free(pool: DmaPool, bus: int) -> None:
    """Give a block back; freeing one that is not in use is reported, as dmapool does."""
    if pool.in_use.pop(bus, None) is None:
        log.error("dma_pool_free %s, dma %#x already free", pool.name, bus)
        return
    pool.free.append(bus)


def dma_pool_destroy(pool: DmaPool) -> None:
    """Free the pool's pages; blocks still in use are reported and lost with them."""
    if pool.in_use:
        log.error("dma_pool_destroy %s, %d blocks busy", pool.name, len(pool.in_use))
    for _, bus in pool.pages:
        dma_free_coherent(pool.dev, pool.allocation, bus)
    pool.pages, pool.free, pool.in_use, pool.views = [], [], {}, {}
