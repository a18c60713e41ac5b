"""The board: what silicon sits where, wired the way a device tree describes it.

Counterpart: a board's .dts plus the machine's early setup. ``make_board`` builds the
hardware (RAM, interrupt controller, the PL080-style DMA controller, the DW-style I2S
controller wired to its request lines 0 (TX) and 1 (RX)) on one clock and
returns the platform bus with its device-tree nodes; ``populate()`` binds the drivers.
"""

from __future__ import annotations

from typing import Any, Final

from soc.adma import Adma
from soc.bus import Bus
from soc.clock import VirtualClock
from soc.dw_i2s import DwI2s
from soc.endpoint import Endpoint
from soc.irq import Cpu, InterruptController, RealtimeCpu
from soc.pl080 import Pl080
from soc.pl330 import Pl330
from soc.platform import DtNode, PlatformBus, Soc

RAM_BASE = 0x8000_0000
RAM_SIZE = 64 << 20
DMAC_BASE = 0x1013_0000
DMAC_IRQ: Final = 15
I2S_FIFO_DEPTH: Final = 16  # entries, a frame each
I2S_BASE = 0x1014_0000
I2S_IRQ: Final = 16
ADMA_BASE = 0x1015_0000
ADMA_IRQ: Final = 17
I2S_TX_REQUEST: Final = 0
I2S_RX_REQUEST: Final = 1


DMACS = ("pl080", "pl330")  # the DMA controllers a board may carry


def make_audio_board(
    clock: VirtualClock | None = None,
    device: Any = "virtual",
    bh_latency_ns: int = 0,
    dmac: str = "pl080",
    **endpoint: Any,
) -> PlatformBus:
    """The board with its sound: the I2S wired to the codec endpoint and a
    simple-audio-card machine node; call ``populate()`` on the result to probe.

    Parameters
    ----------
    clock : VirtualClock or RealtimeClock, optional
        The hardware's time; a new virtual clock by default.
    device : int, str or "virtual"
        The far end: a sounddevice device (index or name), or the virtual device.
    bh_latency_ns : int
        How long after its top half a bottom half runs.
    dmac : {"pl080", "pl330"}
        The DMA controller that serves the I2S request lines.
    **endpoint
        Passed to :class:`soc.endpoint.Endpoint`: ``tap``, ``loop``, ``source``, ...

    Returns
    -------
    PlatformBus
        ``board.soc.hw`` holds the parts by name ("dma0", "i2s0", "codec0").
    """
    clock = clock or VirtualClock()
    nodes = [
        DtNode("codec0", "dma-audio,card-endpoint"),
        DtNode("sound", "simple-audio-card",
               props={"cpu": "i2s0", "codec": "codec0", "label": "dma-audio",
                      "long-name": f"dma-audio: DW-I2S + {dmac.upper()} cyclic DMA"}),
    ]
    board = make_board(clock, bh_latency_ns, extra_nodes=nodes, i2s_enabled=True, dmac=dmac)
    board.soc.hw["codec0"] = Endpoint(clock, board.soc.hw["i2s0"], device, **endpoint)
    return board


def make_board(
    clock: VirtualClock | None = None,
    bh_latency_ns: int = 0,
    dmac_channels: int = 8,
    dmac_bytes_per_us: int = 400,
    i2s_fifo_depth: int = I2S_FIFO_DEPTH,
    extra_nodes: list[DtNode] | None = None,
    i2s_enabled: bool = False,
    dmac: str = "pl080",
    adma: bool = False,
) -> PlatformBus:
    """Build the SoC and its device tree; call ``populate()`` on the result to probe.

    Parameters
    ----------
    clock : VirtualClock or RealtimeClock, optional
        The hardware's time; a new virtual clock by default.
    bh_latency_ns : int
        How long after its top half a bottom half runs.
    dmac_channels, dmac_bytes_per_us : int
        The PL080's physical channels, and its memory-to-memory speed.
    i2s_fifo_depth : int
        Entries in each I2S FIFO.
    extra_nodes : list of DtNode, optional
        More device-tree nodes (a sound card, a test peripheral).
    i2s_enabled : bool
        As in an SoC's .dtsi the I2S node is ``status = "disabled"`` unless the board
        has sound (:func:`make_audio_board`).
    dmac : {"pl080", "pl330"}
        Which DMA controller sits at "dma0": the PL080 (LLIs) or the PL330 (microcode).
    adma : bool
        Also the XOR and P+Q engine for RAID, at "adma0".
    """
    if dmac not in DMACS:
        raise ValueError(f"unknown DMA controller {dmac!r} (one of {', '.join(DMACS)})")
    clock = clock or VirtualClock()
    bus = Bus(clock.hw_lock, clock)
    ram = bus.add_ram("ram", RAM_BASE, RAM_SIZE)
    irqc = InterruptController(clock)
    cpu = RealtimeCpu(clock, bh_latency_ns) if clock.realtime else Cpu(clock, bh_latency_ns)
    soc = Soc(bus, clock, irqc, cpu, ram)
    controller = Pl080 if dmac == "pl080" else Pl330
    soc.hw["dma0"] = controller(
        bus,
        clock,
        irqc,
        DMAC_IRQ,
        DMAC_BASE,
        channels=dmac_channels,
        bytes_per_us=dmac_bytes_per_us,
        name="dma0",
    )
    soc.hw["i2s0"] = DwI2s(
        bus,
        clock,
        irqc,
        I2S_IRQ,
        I2S_BASE,
        soc.hw["dma0"],
        I2S_TX_REQUEST,
        I2S_RX_REQUEST,
        fifo_depth=i2s_fifo_depth,
        name="i2s0",
    )
    nodes = [
        DtNode(
            "dma0",
            f"arm,{dmac}",
            reg=(DMAC_BASE, 0x1000),
            interrupts=(DMAC_IRQ,),
            props={"dma-requests": 16, "dma-channels": dmac_channels},
        ),
        DtNode(
            "i2s0",
            "snps,designware-i2s",
            reg=(I2S_BASE, 0x200),
            interrupts=(I2S_IRQ,),
            dmas=(("dma0", I2S_TX_REQUEST), ("dma0", I2S_RX_REQUEST)),
            dma_names=("tx", "rx"),
            props={"fifo-depth": i2s_fifo_depth,
                   "status": "okay" if i2s_enabled else "disabled"},
        ),
        *(extra_nodes or []),
    ]
    if adma:
        soc.hw["adma0"] = Adma(bus, clock, irqc, ADMA_IRQ, ADMA_BASE, name="adma0")
        nodes.append(DtNode("adma0", "dma-audio,adma", reg=(ADMA_BASE, 0x1000),
                            interrupts=(ADMA_IRQ,), props={"dma-channels": 2}))
    return PlatformBus(soc, nodes)
