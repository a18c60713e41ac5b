"""The board: what silicon sits where, wired the way a device tree describes it.

Counterpart: a board's .dts plus the machine's early setup. ``make_board`` builds the
hardware (RAM, interrupt controller, the PL080-style DMA controller) on one clock and
returns the platform bus with its device-tree nodes; ``populate()`` binds the drivers.
"""

from __future__ import annotations

from soc.bus import Bus
from soc.clock import VirtualClock
from soc.irq import Cpu, InterruptController
from soc.pl080 import Pl080
from soc.platform import DtNode, PlatformBus, Soc

RAM_BASE = 0x8000_0000
RAM_SIZE = 64 << 20
DMAC_BASE = 0x1013_0000
DMAC_IRQ = 15


def make_board(
    clock: VirtualClock | None = None,
    bh_latency_ns: int = 0,
    dmac_channels: int = 8,
    dmac_bytes_per_us: int = 400,
    extra_nodes: list[DtNode] | None = None,
) -> PlatformBus:
    """Build the SoC and its device tree; call ``populate()`` on the result to probe."""
    clock = clock or VirtualClock()
    bus = Bus()
    ram = bus.add_ram("ram", RAM_BASE, RAM_SIZE)
    irqc = InterruptController()
    soc = Soc(bus, clock, irqc, Cpu(clock, bh_latency_ns), ram)
    soc.hw["dma0"] = Pl080(
        bus,
        clock,
        irqc,
        DMAC_IRQ,
        DMAC_BASE,
        channels=dmac_channels,
        bytes_per_us=dmac_bytes_per_us,
        name="dma0",
    )
    nodes = [
        DtNode(
            "dma0",
            "arm,pl080",
            reg=(DMAC_BASE, 0x1000),
            interrupts=(DMAC_IRQ,),
            props={"memcpy-channels": 4, "dma-requests": 16, "dma-channels": dmac_channels},
        ),
        *(extra_nodes or []),
    ]
    return PlatformBus(soc, nodes)
