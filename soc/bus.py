"""The physical address space: RAM backed by numpy, MMIO registers, bus errors.

Counterpart: the AHB/AXI interconnect of an SoC. A bus master (the CPU through a
driver, or a DMA controller) reads and writes by physical address; an address that
no region decodes is a bus error (the slave answers ERROR), as on real silicon.

Bulk access is vectorised: ``ram_view`` hands out a numpy view of a RAM range so a
DMA can move a whole LLI with one slice. Peripheral data registers that a DMA feeds
(FIFO ports) take or give many words in one call through ``fifo_write``/``fifo_read``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from soc.clock import HwLock, VirtualClock


class BusError(Exception):
    """An access that no region decodes, or that crosses the end of a region."""

    def __init__(self, addr: int, size: int, write: bool) -> None:
        kind = "write" if write else "read"
        super().__init__(f"bus error: {kind} of {size} bytes at {addr:#010x}")
        self.addr = addr
        self.size = size
        self.write = write


class MmioDevice(Protocol):
    """What a peripheral's register block offers the bus."""

    def mmio_read(self, offset: int) -> int: ...

    def mmio_write(self, offset: int, value: int) -> None: ...


Reader = Callable[[], int]
_FOUR_WORDS = struct.Struct("<4I")


@dataclass
class RamRegion:
    """A RAM bank with a first-fit allocator for the DMA mapping layer.

    The allocator stands in for the kernel's page allocator and CMA: it hands out
    bus addresses inside this bank, aligned as asked, and takes them back.
    """

    name: str
    base: int
    size: int
    data: np.ndarray = field(init=False, repr=False)
    _free: list[tuple[int, int]] = field(init=False, repr=False)
    _used: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.data = np.zeros(self.size, dtype=np.uint8)
        self._free = [(self.base, self.size)]
        self._used = {}

    def contains(self, addr: int, size: int) -> bool:
        return self.base <= addr and addr + size <= self.base + self.size

    def alloc(self, size: int, align: int = 64) -> int:
        """Allocate ``size`` bytes aligned to ``align``; MemoryError when full."""
        if size <= 0:
            raise ValueError(f"allocation size must be positive, got {size}")
        for i, (start, length) in enumerate(self._free):
            addr = (start + align - 1) // align * align
            if addr + size > start + length:
                continue
            pieces = [(start, addr - start), (addr + size, start + length - addr - size)]
            self._free[i : i + 1] = [p for p in pieces if p[1] > 0]
            self._used[addr] = size
            return addr
        raise MemoryError(f"{self.name}: no room for {size} bytes")

    def free(self, addr: int) -> None:
        size = self._used.pop(addr)
        self._free.append((addr, size))
        self._free.sort()
        merged: list[tuple[int, int]] = []
        for start, length in self._free:
            if merged and merged[-1][0] + merged[-1][1] == start:
                merged[-1] = (merged[-1][0], merged[-1][1] + length)
            else:
                merged.append((start, length))
        self._free = merged

    def allocated(self) -> dict[int, int]:
        """Live allocations, address to size."""
        return dict(self._used)

    def view(self, addr: int, size: int) -> np.ndarray:
        """The CPU's (coherent) view of a range: a uint8 numpy view, no copy."""
        if not self.contains(addr, size):
            raise BusError(addr, size, False)
        off = addr - self.base
        return self.data[off : off + size]


@dataclass
class MmioRegion:
    name: str
    base: int
    size: int
    device: MmioDevice


# A DMA access observer sees every range a bus master other than the CPU touches:
# (addr, size, is_write). The DMA-API debug checker installs one.
AccessObserver = Callable[[int, int, bool], None]


class Bus:
    """Decodes physical addresses to RAM banks and MMIO register blocks."""

    def __init__(self, lock: HwLock | None = None, clock: VirtualClock | None = None) -> None:
        self.lock = lock if lock is not None else HwLock()
        self.clock = clock  # its ``present()`` runs before each CPU write, when set
        self.ram: list[RamRegion] = []
        self.mmio: list[MmioRegion] = []
        self.dma_observers: list[AccessObserver] = []
        # Fault injection: ranges whose next bus-master access the slave answers ERROR
        # (a transient fault such as an uncorrectable ECC error); each fires once.
        self.error_windows: list[tuple[int, int]] = []
        # Word-access decode, per address: (RAM bytes, offset) or (register block, offset).
        # Regions are only ever added, and adding one clears it.
        self._words: dict[int, tuple[memoryview | None, MmioDevice | None, int]] = {}
        # Word reads, per address: the reader it resolved to (a block's ``mmio_reader``).
        self._readers: dict[int, Reader] = {}
        # The rwmmio_post_read tracepoint: (addr, value) after each CPU read, the lock let go.
        self.trace_rwmmio_post_read: Callable[[int, int], None] | None = None

    def add_ram(self, name: str, base: int, size: int) -> RamRegion:
        self._check_free(base, size)
        region = RamRegion(name, base, size)
        self.ram.append(region)
        self._words.clear()
        self._readers.clear()
        return region

    def add_mmio(self, name: str, base: int, size: int, device: MmioDevice) -> MmioRegion:
        self._check_free(base, size)
        region = MmioRegion(name, base, size, device)
        self.mmio.append(region)
        self._words.clear()
        self._readers.clear()
        return region

    def _check_free(self, base: int, size: int) -> None:
        taken: list[tuple[str, int, int]] = [(r.name, r.base, r.size) for r in self.ram]
        taken += [(r.name, r.base, r.size) for r in self.mmio]
        for name, rbase, rsize in taken:
            if base < rbase + rsize and rbase < base + size:
                raise ValueError(f"region at {base:#x} overlaps {name}")

    def _ram_at(self, addr: int, size: int, write: bool) -> RamRegion | None:
        for r in self.ram:
            if r.contains(addr, size):
                return r
        return None

    def _mmio_at(self, addr: int, size: int, write: bool) -> tuple[MmioDevice, int]:
        for r in self.mmio:
            if r.base <= addr and addr + size <= r.base + r.size:
                return r.device, addr - r.base
        raise BusError(addr, size, write)

    # -- word access (the CPU programming registers, the DMA reading an LLI) --

    def read32(self, addr: int) -> int:
        with self.lock:
            reader = self._readers.get(addr)
            if reader is None:
                reader = self._reader(addr)
            value = reader()
        if self.trace_rwmmio_post_read is not None:
            self.trace_rwmmio_post_read(addr, value)
        return value

    def _reader(self, addr: int) -> Reader:
        """Resolve a word read once: RAM bytes, or the register block's own reader."""
        ram, dev, off = self._word(addr, False)
        reader: Reader
        if ram is not None:
            view = ram
            reader = lambda: int.from_bytes(view[off : off + 4], "little")  # noqa: E731
        else:
            assert dev is not None
            resolve = getattr(dev, "mmio_reader", None)
            block = dev
            reader = (resolve(off) if resolve is not None
                      else lambda: block.mmio_read(off) & 0xFFFFFFFF)
        self._readers[addr] = reader
        return reader

    def _word(self, addr: int, write: bool) -> tuple[memoryview | None, MmioDevice | None, int]:
        hit = self._words.get(addr)
        if hit is None:
            ram = self._ram_at(addr, 4, write)
            if ram is not None:
                hit = (memoryview(ram.data.data), None, addr - ram.base)
            else:
                dev, off = self._mmio_at(addr, 4, write)
                hit = (None, dev, off)
            self._words[addr] = hit
        return hit

    def write32(self, addr: int, value: int) -> None:
        if self.clock is not None and self.clock.present is not None:
            self.clock.present()  # the write lands at the hardware's present time
        with self.lock:
            ram, dev, off = self._words.get(addr) or self._word(addr, True)
            if ram is not None:
                ram[off : off + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
            else:
                assert dev is not None
                dev.mmio_write(off, value & 0xFFFFFFFF)

    # -- bulk access by a bus master (vectorised) --

    def inject_error(self, addr: int, size: int) -> None:
        """The next bus-master access touching ``[addr, addr + size)`` gets ERROR."""
        with self.lock:
            self.error_windows.append((addr, size))

    def _check_error_window(self, addr: int, size: int, write: bool) -> None:
        for k, (base, length) in enumerate(self.error_windows):
            if addr < base + length and base < addr + size:
                del self.error_windows[k]
                raise BusError(addr, size, write)

    def ram_words(self, addr: int) -> tuple[int, int, int, int]:
        """Four little-endian words of RAM read by a DMA master (an LLI fetch), with the
        checks of :meth:`ram_view`."""
        ram = self._ram_at(addr, 16, False)
        if ram is None:
            raise BusError(addr, 16, False)
        if self.error_windows:
            self._check_error_window(addr, 16, False)
        for observe in self.dma_observers:
            observe(addr, 16, False)
        return _FOUR_WORDS.unpack_from(ram.data.data, addr - ram.base)

    def ram_view(self, addr: int, size: int, write: bool) -> np.ndarray:
        """A numpy view of ``size`` bytes of RAM for a DMA master; BusError if unmapped."""
        ram = self._ram_at(addr, size, write)
        if ram is None:
            raise BusError(addr, size, write)
        if self.error_windows:
            self._check_error_window(addr, size, write)
        for observe in self.dma_observers:
            observe(addr, size, write)
        off = addr - ram.base
        return ram.data[off : off + size]

    def is_ram(self, addr: int, size: int = 1) -> bool:
        return self._ram_at(addr, size, False) is not None

    def fifo_write(self, addr: int, data: np.ndarray, width: int) -> None:
        """A master writes ``data`` (uint8) to one register, ``width`` bytes a beat."""
        ram = self._ram_at(addr, width, True)
        if ram is not None:  # a fixed RAM address: the last beat wins
            self.ram_view(addr, width, True)[:] = data[-width:]
            return
        dev, off = self._mmio_at(addr, width, True)
        fifo = getattr(dev, "fifo_write", None)
        if fifo is not None:
            fifo(off, data, width)
            return
        beats = data.view(f"<u{width}") if width in (1, 2, 4) else data
        for beat in beats:  # a plain register block: one write per beat
            dev.mmio_write(off, int(beat))

    def fifo_read(self, addr: int, nbytes: int, width: int) -> np.ndarray:
        """A master reads ``nbytes`` from one register, ``width`` bytes a beat."""
        ram = self._ram_at(addr, width, False)
        if ram is not None:  # a fixed RAM address: the same word again and again
            return np.tile(self.ram_view(addr, width, False), nbytes // width)
        dev, off = self._mmio_at(addr, width, False)
        fifo = getattr(dev, "fifo_read", None)
        if fifo is not None:
            return fifo(off, nbytes, width)
        words = [dev.mmio_read(off) for _ in range(nbytes // width)]
        return np.asarray(words, dtype=f"<u{width}").view(np.uint8)
