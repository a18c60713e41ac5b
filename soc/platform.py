"""The platform bus: device-tree nodes, platform devices and driver binding.

Counterpart: drivers/of/platform.c (``of_platform_populate``) and the driver core's
probe/remove. A board describes its devices as :class:`DtNode` entries, the way a
device tree does (compatible, reg, interrupts, dmas/dma-names). Populating the bus
makes a :class:`PlatformDevice` for each node and binds the driver whose compatible
string matches. Drivers are found by name through ``MODULE_ALIAS`` and imported on
demand, as modprobe finds a module through modules.alias: the hardware never imports
a driver. A node with ``status = "disabled"`` is not bound (unlike the kernel, it still
gets a device, so that tests can drive its hardware by hand).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from soc.bus import Bus, RamRegion

if TYPE_CHECKING:
    from soc.clock import VirtualClock
    from soc.irq import Cpu, InterruptController, RealtimeCpu

MODULE_ALIAS: dict[str, str] = {
    "arm,pl080": "dma.drivers.pl08x",
    "arm,pl330": "dma.drivers.pl330",
    "dma-audio,adma": "dma.drivers.adma",
    "snps,designware-i2s": "pcm.dw_i2s_dai",
    "dma-audio,card-endpoint": "pcm.endpoint_codec",
    "simple-audio-card": "pcm.simple_card",
}


@dataclass
class DtNode:
    """A device-tree node, reduced to the properties this model uses."""

    name: str
    compatible: str
    reg: tuple[int, int] | None = None
    interrupts: tuple[int, ...] = ()
    dmas: tuple[tuple[str, int], ...] = ()  # (provider node name, request line)
    dma_names: tuple[str, ...] = ()
    props: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlatformDriver:
    compatible: tuple[str, ...]
    probe: Callable[[PlatformDevice], None]
    remove: Callable[[PlatformDevice], None]
    name: str = ""  # ``driver.name``, as dev_driver_string gives it


@dataclass
class Soc:
    """The board's shared hardware: bus, clock, interrupt controller, CPU, RAM."""

    bus: Bus
    clock: VirtualClock
    irqc: InterruptController
    cpu: Cpu | RealtimeCpu
    ram: RamRegion
    hw: dict[str, Any] = field(default_factory=dict)
    # trace hooks for what no one part owns (an injected fault): fn(event, message)
    trace: list[Callable[[str, str], None]] = field(default_factory=list)


@dataclass
class PlatformDevice:
    """``struct platform_device``: a node, its hardware and its bound driver."""

    node: DtNode
    soc: Soc
    driver: PlatformDriver | None = None
    drvdata: Any = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def dma_mem(self) -> RamRegion:
        """Where this device's DMA allocations come from (its DMA zone)."""
        return self.soc.ram

    def __repr__(self) -> str:
        return f"<platform device {self.name} ({self.node.compatible})>"


def platform_get_resource(pdev: PlatformDevice) -> tuple[int, int]:
    """``platform_get_resource(pdev, IORESOURCE_MEM, 0)``: the registers' base and size;
    ENODEV where the node has none."""
    if pdev.node.reg is None:
        raise OSError(19, f"{pdev.name}: no register resource")
    return pdev.node.reg


def platform_get_irq(pdev: PlatformDevice, n: int = 0) -> int:
    """``platform_get_irq``: the node's ``n``-th interrupt; ENXIO where it has none."""
    if n >= len(pdev.node.interrupts):
        raise OSError(6, f"{pdev.name}: no interrupt {n}")
    return pdev.node.interrupts[n]


class PlatformBus:
    def __init__(self, soc: Soc, nodes: list[DtNode]) -> None:
        self.soc = soc
        self.nodes = nodes
        self.devices: dict[str, PlatformDevice] = {}

    def populate(self) -> None:
        """Create a device per node and probe its driver, in tree order."""
        for node in self.nodes:
            pdev = PlatformDevice(node, self.soc)
            self.devices[node.name] = pdev
            module = MODULE_ALIAS.get(node.compatible)
            if module is None or node.props.get("status") == "disabled":
                continue  # no driver, or disabled: the device stays unbound
            driver: PlatformDriver = importlib.import_module(module).DRIVER
            driver.probe(pdev)
            pdev.driver = driver

    def remove(self) -> None:
        """Unbind every driver, last probed first; then stop the CPU's worker, if any."""
        for pdev in reversed(list(self.devices.values())):
            if pdev.driver is not None:
                pdev.driver.remove(pdev)
                pdev.driver = None
        shutdown = getattr(self.soc.cpu, "shutdown", None)
        if shutdown is not None:
            shutdown()
