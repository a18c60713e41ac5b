"""The DMA mapping API and its debug checker.

Counterpart: kernel/dma/mapping.c (``dma_alloc_coherent``, ``dma_map_single``,
``dma_sync_*``) and kernel/dma/debug.c (``check_unmap``, the sync checks).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

import numpy as np

from dma.errors import DmaEngineError

DMA_MAPPING_ERROR = ~0 & 0xFFFFFFFF
SZ_64K = 65536


class DmaDataDirection(IntEnum):
    BIDIRECTIONAL = 0
    TO_DEVICE = 1
    FROM_DEVICE = 2
    NONE = 3


class DmaMemory(Protocol):
    """A device's DMA zone: where its buffers are placed (duck-typed RAM bank)."""

    def alloc(self, size: int, align: int = 64) -> int: ...

    def free(self, addr: int) -> None: ...

    def view(self, addr: int, size: int) -> np.ndarray: ...


class DmaCapableDevice(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dma_mem(self) -> DmaMemory: ...


@dataclass
class DebugEntry:
    dev: Any
    kind: str  # "coherent" or "single"
    addr: int
    size: int
    direction: DmaDataDirection
    cpu_buf: np.ndarray | None = None
    map_err_checked: bool = True  # a streaming mapping: dma_mapping_error was called on it


class DmaDebug:
    """dma-debug's bookkeeping: live entries by bus address, and what went wrong."""

    def __init__(self) -> None:
        self.entries: dict[int, DebugEntry] = {}
        self.errors: list[str] = []

    def err(self, dev: Any, message: str) -> None:
        self.errors.append(f"{getattr(dev, 'name', dev)}: DMA-API: {message}")

    def watch(self, dev: Any) -> None:
        """Observe the device's bus for DMA into memory nobody mapped (once a bus: the
        bus itself says whether it is watched, since a new bus can reuse a freed one's
        ``id``)."""
        bus = getattr(getattr(dev, "soc", None), "bus", None)
        if bus is None or self.check_access in bus.dma_observers:
            return
        bus.dma_observers.append(self.check_access)

    def check_access(self, addr: int, size: int, write: bool) -> None:
        for e in self.entries.values():
            if e.addr <= addr and addr + size <= e.addr + e.size:
                return
        kind = "write to" if write else "read from"
        self.errors.append(
            f"DMA-API: device {kind} {addr:#010x}+{size} which is not mapped (or was freed)"
        )

    def find(self, dev: Any, addr: int, what: str) -> DebugEntry | None:
        entry = self.entries.get(addr)
        if entry is None or entry.dev is not dev:
            self.err(dev, f"device driver tries to {what} DMA memory it has not allocated "
                          f"[device address={addr:#010x}]")
            return None
        return entry


_debug = DmaDebug()


def dma_get_max_seg_size(dma_device: Any) -> int:
    """``dma_get_max_seg_size``: the largest segment the device takes, 64 KiB where its
    driver set none (the PL08x sets none; it splits long segments into LLIs). The model
    keeps ``max_segment_size`` on the DMA device, not on a ``struct device``."""
    return dma_device.max_seg_size or SZ_64K


def dma_debug_errors() -> list[str]:
    return list(_debug.errors)


def dma_debug_reset() -> None:
    _debug.errors.clear()


def _register(entry: DebugEntry) -> None:
    _debug.watch(entry.dev)
    _debug.entries[entry.addr] = entry


def dma_alloc_coherent(dev: DmaCapableDevice, size: int) -> tuple[np.ndarray, int]:
    """Allocate ``size`` bytes both sides see: returns (CPU view, bus address)."""
    if size <= 0:
        raise DmaEngineError(errno.EINVAL, f"dma_alloc_coherent: size {size}")
    try:
        addr = dev.dma_mem.alloc(size, 64)
    except MemoryError as e:
        raise DmaEngineError(errno.ENOMEM, f"dma_alloc_coherent: {e}") from None
    cpu = dev.dma_mem.view(addr, size)
    cpu[:] = 0
    _register(DebugEntry(dev, "coherent", addr, size, DmaDataDirection.BIDIRECTIONAL))
    return cpu, addr


def dma_free_coherent(dev: DmaCapableDevice, size: int, dma_addr: int) -> None:
    entry = _debug.find(dev, dma_addr, "free")
    if entry is None:
        return
    if entry.kind != "coherent":
        _debug.err(dev, "device driver frees DMA memory with wrong function")
    if entry.size != size:
        _debug.err(dev, f"device driver frees DMA memory with different size "
                        f"[mapped {entry.size} bytes] [unmapped {size} bytes]")
    del _debug.entries[dma_addr]
    dev.dma_mem.free(dma_addr)


def dma_map_single(dev: DmaCapableDevice, buf: np.ndarray, direction: DmaDataDirection) -> int:
    """Map a CPU buffer for the device; the returned bus address is what the DMA uses."""
    if direction == DmaDataDirection.NONE:
        raise DmaEngineError(errno.EINVAL, "dma_map_single: direction DMA_NONE")
    raw = buf.reshape(-1).view(np.uint8)
    try:
        addr = dev.dma_mem.alloc(max(raw.size, 1), 64)
    except MemoryError:
        return DMA_MAPPING_ERROR
    if direction in (DmaDataDirection.TO_DEVICE, DmaDataDirection.BIDIRECTIONAL):
        dev.dma_mem.view(addr, raw.size)[:] = raw
    _register(DebugEntry(dev, "single", addr, raw.size, direction, raw, map_err_checked=False))
    return addr


def dma_mapping_error(dev: DmaCapableDevice, addr: int) -> int:
    """-ENOMEM for an address that is ``DMA_MAPPING_ERROR``, else 0, as the kernel's;
    dma-debug notes that the mapping was checked."""
    entry = _debug.entries.get(addr)
    if entry is not None and entry.dev is dev:
        entry.map_err_checked = True
    return -errno.ENOMEM if addr == DMA_MAPPING_ERROR else 0


def _checked(dev: Any, addr: int, size: int, direction: DmaDataDirection, what: str):
    entry = _debug.find(dev, addr, what)
    if entry is None:
        return None
    if entry.kind != "single":
        _debug.err(dev, f"device driver tries to {what} coherent memory as a streaming mapping")
        return None
    if what == "sync":  # check_sync
        if size > entry.size:
            _debug.err(dev, f"device driver syncs DMA memory outside allocated range "
                            f"[device address={addr:#010x}] [allocation size={entry.size} "
                            f"bytes] [sync size={size} bytes]")
            return None
        if entry.direction != DmaDataDirection.BIDIRECTIONAL and direction != entry.direction:
            _debug.err(dev, f"device driver syncs DMA memory with different direction "
                            f"[mapped as {entry.direction.name}] [synced as {direction.name}]")
        return entry
    # check_unmap: each mismatch is reported, and the mapping is undone all the same
    if size != entry.size:
        _debug.err(dev, f"device driver frees DMA memory with different size "
                        f"[device address={addr:#010x}] [map size={entry.size} bytes] "
                        f"[unmap size={size} bytes]")
    if direction != entry.direction:
        _debug.err(dev, f"device driver frees DMA memory with different direction "
                        f"[device address={addr:#010x}] [mapped as {entry.direction.name}] "
                        f"[unmapped as {direction.name}]")
    if not entry.map_err_checked:
        _debug.err(dev, f"device driver failed to check map error [device address="
                        f"{addr:#010x}] [size={entry.size} bytes] [mapped as single]")
    return entry


def _to_cpu(dev: Any, entry: DebugEntry, size: int) -> None:
    if (entry.direction in (DmaDataDirection.FROM_DEVICE, DmaDataDirection.BIDIRECTIONAL)
            and entry.cpu_buf is not None):
        entry.cpu_buf[:size] = dev.dma_mem.view(entry.addr, size)


def dma_unmap_single(
    dev: DmaCapableDevice, addr: int, size: int, direction: DmaDataDirection
) -> None:
    entry = _checked(dev, addr, size, direction, "unmap")
    if entry is None:
        return
    _to_cpu(dev, entry, entry.size)
    del _debug.entries[addr]
    dev.dma_mem.free(addr)


def dma_sync_single_for_cpu(
    dev: DmaCapableDevice, addr: int, size: int, direction: DmaDataDirection
) -> None:
    """Give the buffer back to the CPU: device writes become visible to it."""
    entry = _checked(dev, addr, size, direction, "sync")
    if entry is not None:
        _to_cpu(dev, entry, size)


def dma_sync_single_for_device(
    dev: DmaCapableDevice, addr: int, size: int, direction: DmaDataDirection
) -> None:
    """Give the buffer to the device: CPU writes become visible to it."""
    entry = _checked(dev, addr, size, direction, "sync")
    if entry is not None and entry.direction in (
        DmaDataDirection.TO_DEVICE,
        DmaDataDirection.BIDIRECTIONAL,
    ):
        dev.dma_mem.view(addr, size)[:] = entry.cpu_buf[:size]


def dma_debug_device_removed(dev: Any) -> list[str]:
    """At unbind: report (and record) every allocation the device still holds."""
    leaks = [e for e in _debug.entries.values() if e.dev is dev]
    for e in leaks:
        _debug.err(dev, f"device driver has pending DMA allocations while released from "
                        f"device [{e.kind} {e.addr:#010x}+{e.size}]")
    return [f"{e.kind} {e.addr:#010x}+{e.size}" for e in leaks]
