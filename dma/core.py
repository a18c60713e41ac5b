"""The DMA engine core: providers register, consumers find and release channels.

Counterpart: drivers/dma/dmaengine.c and drivers/dma/of-dma.c. A provider fills a
:class:`DmaDevice` with its capabilities and ``device_*`` ops and calls
:func:`async_device_register`, which refuses a device that claims a capability without
its op. A consumer asks for a channel by name (:func:`request_chan`), looked up in its
device-tree node's ``dmas``/``dma-names`` and translated by the provider's ``xlate``.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dma.dmaengine import AsyncTxDescriptor, Cap, ResidueGranularity
from dma.errors import DmaEngineError


class DtNodeLike(Protocol):
    name: str
    dmas: tuple[tuple[str, int], ...]
    dma_names: tuple[str, ...]


class DeviceLike(Protocol):
    """What the DMA API needs of a ``struct device``."""

    @property
    def name(self) -> str: ...

    node: DtNodeLike


class DmaChan:
    """``struct dma_chan``."""

    def __init__(self, device: DmaDevice,
                 spin_lock_init: Callable[[], Any] | None = None) -> None:
        self.device = device
        self.chan_id = -1
        self.cookie = 1
        self.completed_cookie = 1
        self.client_count = 0
        self.dbg_client_name: str | None = None
        self.slave: Any = None
        # model bookkeeping for the terminate/synchronize rule
        self.terminating = False
        # trace hooks: fn(event, message) at issue_pending and terminate
        self.trace: list[Callable[[str, str], None]] = []
        # the provider's spin_lock_init gives its platform's kind (a no-op on a
        # uniprocessor); a channel on no platform gets a real one
        self.lock = spin_lock_init() if spin_lock_init is not None else threading.RLock()

    @property
    def name(self) -> str:
        """``dma_chan_name``: dma<dev>chan<n>."""
        return f"dma{self.device.dev_id}chan{self.chan_id}"

    def __repr__(self) -> str:
        return f"<DmaChan {self.name}>"


@dataclass
class DmaDevice:
    """``struct dma_device``: a provider's capabilities and ops.

    Ops left as None are missing; the consumer API answers for them as the kernel does
    (None from a prep call, ENOSYS from pause/resume/config/terminate).
    """

    dev: Any
    channels: list[DmaChan] = field(default_factory=list)
    cap_mask: Cap = Cap(0)
    src_addr_widths: int = 0
    dst_addr_widths: int = 0
    directions: int = 0
    min_burst: int = 0
    max_burst: int = 0
    max_sg_burst: int = 0
    max_seg_size: int = 0  # dma_parms->max_segment_size; 0: unset (see get_max_seg_size)
    max_xor: int = 0  # sources of one XOR
    max_pq: int = 0  # sources of one P+Q, DMA_HAS_PQ_CONTINUE or'd in (dma_set_maxpq)
    copy_align: int = 0  # enum dmaengine_alignment: log2 of the bytes offsets and
    xor_align: int = 0  # lengths must be multiples of (0: any)
    pq_align: int = 0
    fill_align: int = 0
    residue_granularity: ResidueGranularity = ResidueGranularity.DESCRIPTOR
    descriptor_reuse: bool = False
    dev_id: int = -1
    privatecnt: int = 0
    device_alloc_chan_resources: Callable[..., int] | None = None
    device_free_chan_resources: Callable[..., None] | None = None
    device_prep_dma_memcpy: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_dma_memset: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_dma_interrupt: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_dma_xor: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_dma_xor_val: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_dma_pq: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_dma_pq_val: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_slave_sg: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_dma_cyclic: Callable[..., AsyncTxDescriptor | None] | None = None
    device_prep_interleaved_dma: Callable[..., AsyncTxDescriptor | None] | None = None
    device_config: Callable[..., None] | None = None
    device_pause: Callable[..., None] | None = None
    device_resume: Callable[..., None] | None = None
    device_terminate_all: Callable[..., None] | None = None
    device_synchronize: Callable[..., None] | None = None
    device_tx_status: Callable[..., Any] | None = None
    device_caps: Callable[..., None] | None = None  # (chan, caps): a channel's own caps
    device_issue_pending: Callable[..., None] | None = None


def issue_pending_op(device: DmaDevice) -> Callable[..., None]:
    """``device->device_issue_pending``, which dma_async_device_register requires."""
    op = device.device_issue_pending
    assert op is not None
    return op


# capability -> the op it needs, in the order dma_async_device_register checks them
_CAP_OPS = (
    (Cap.MEMCPY, "device_prep_dma_memcpy"),
    (Cap.XOR, "device_prep_dma_xor"),
    (Cap.XOR_VAL, "device_prep_dma_xor_val"),
    (Cap.PQ, "device_prep_dma_pq"),
    (Cap.PQ_VAL, "device_prep_dma_pq_val"),
    (Cap.MEMSET, "device_prep_dma_memset"),
    (Cap.INTERRUPT, "device_prep_dma_interrupt"),
    (Cap.CYCLIC, "device_prep_dma_cyclic"),
    (Cap.INTERLEAVE, "device_prep_interleaved_dma"),
)

_dma_device_list: list[DmaDevice] = []
_of_dma_list: dict[str, tuple[Callable[[int], DmaChan | None], DmaDevice]] = {}
_list_lock = threading.RLock()


def _next_dev_id() -> int:
    used = {d.dev_id for d in _dma_device_list}
    return next(i for i in range(len(used) + 1) if i not in used)


def async_device_register(device: DmaDevice) -> None:
    """``dma_async_device_register``: check the ops, number the device and channels.

    EIO, as the kernel's, for a device with no ``dev``, a capability without its prep op,
    or no ``device_tx_status`` or ``device_issue_pending``."""
    if device.dev is None:
        raise DmaEngineError(errno.EIO, "DMAdevice must have dev")
    for cap, op in _CAP_OPS:
        if device.cap_mask & cap and getattr(device, op) is None:
            raise DmaEngineError(
                errno.EIO,
                f"Device claims capability DMA_{cap.name}, but op is not defined ({op})",
            )
    if device.device_tx_status is None:
        raise DmaEngineError(errno.EIO, "Device tx_status is not defined (device_tx_status)")
    if device.device_issue_pending is None:
        raise DmaEngineError(
            errno.EIO, "Device issue_pending is not defined (device_issue_pending)"
        )
    with _list_lock:
        device.dev_id = _next_dev_id()
        for i, chan in enumerate(device.channels):
            chan.chan_id = i
        if device.cap_mask & Cap.PRIVATE:
            device.privatecnt += 1
        _dma_device_list.append(device)


def async_device_unregister(device: DmaDevice) -> None:
    with _list_lock:
        if device in _dma_device_list:
            _dma_device_list.remove(device)
        for name, (_, dev) in list(_of_dma_list.items()):
            if dev is device:
                del _of_dma_list[name]


def of_dma_controller_register(
    node_name: str, xlate: Callable[[int], DmaChan | None], device: DmaDevice
) -> None:
    """Make ``node_name`` a DMA provider that consumers' ``dmas`` entries point at."""
    with _list_lock:
        _of_dma_list[node_name] = (xlate, device)


def of_dma_controller_free(node_name: str) -> None:
    with _list_lock:
        _of_dma_list.pop(node_name, None)


def _chan_get(chan: DmaChan) -> None:
    """``dma_chan_get``: allocate resources on the first reference."""
    if chan.client_count == 0 and chan.device.device_alloc_chan_resources is not None:
        ret = chan.device.device_alloc_chan_resources(chan)
        if ret is not None and ret < 0:
            raise DmaEngineError(-ret, f"{chan.name}: alloc_chan_resources failed")
    chan.client_count += 1


def _make_private(device: DmaDevice) -> None:
    if not device.cap_mask & Cap.PRIVATE:
        device.cap_mask |= Cap.PRIVATE
    device.privatecnt += 1


def request_chan(dev: DeviceLike, name: str) -> DmaChan:
    """``dma_request_chan``: the channel named ``name`` in ``dev``'s dma-names.

    Raises ENODEV naming what was asked where the kernel would return -ENODEV or defer
    the probe (-EPROBE_DEFER): no such name, no registered provider, no free channel.
    """
    node = dev.node
    if name not in node.dma_names:
        raise DmaEngineError(
            errno.ENODEV,
            f"{dev.name}: no DMA channel named {name!r} (dma-names: {list(node.dma_names)})",
        )
    provider, spec = node.dmas[node.dma_names.index(name)]
    with _list_lock:
        entry = _of_dma_list.get(provider)
        if entry is None:
            raise DmaEngineError(
                errno.ENODEV,
                f"{dev.name}: DMA provider {provider!r} for {name!r} is not registered "
                "(the kernel would defer the probe)",
            )
        xlate, device = entry
        if not device.cap_mask & Cap.SLAVE:
            raise DmaEngineError(errno.ENODEV, f"{provider}: not a slave DMA controller")
        chan = xlate(spec)
        if chan is None:
            raise DmaEngineError(
                errno.ENODEV, f"{dev.name}: {provider} has no channel for request {spec}"
            )
        if chan.client_count:
            raise DmaEngineError(
                errno.ENODEV,
                f"{dev.name}: {chan.name} for {name!r} is {_in_use(chan)}",
            )
        _make_private(device)
        _chan_get(chan)
        chan.slave = dev
        chan.dbg_client_name = f"{dev.name}:{name}"
        return chan


def _in_use(chan: DmaChan) -> str:
    return f"in use by {chan.dbg_client_name}" if chan.dbg_client_name else "in use"


_public_held: list[DmaChan] = []  # the channels dmaengine_get holds for async_tx


def dmaengine_get() -> None:
    """``dmaengine_get``: a reference on every channel of every public device (not
    DMA_PRIVATE), for async_tx's ``dma_find_channel``."""
    with _list_lock:
        for device in _dma_device_list:
            if device.cap_mask & Cap.PRIVATE:
                continue
            for chan in device.channels:
                if chan not in _public_held:
                    _chan_get(chan)
                    _public_held.append(chan)


def dmaengine_put() -> None:
    """``dmaengine_put``: drop what :func:`dmaengine_get` took."""
    with _list_lock:
        held = list(_public_held)
        _public_held.clear()
    for chan in held:
        _chan_put(chan)


def _chan_put(chan: DmaChan) -> None:
    """``dma_chan_put``: free the resources with the last reference (a public channel:
    no DMA_PRIVATE to give back)."""
    chan.client_count -= 1
    if chan.client_count == 0:
        if chan.device.device_synchronize is not None:
            chan.device.device_synchronize(chan)
        if chan.device.device_free_chan_resources is not None:
            chan.device.device_free_chan_resources(chan)


def dma_find_channel(cap: Cap) -> DmaChan | None:
    """``dma_find_channel``: a public channel with ``cap`` that dmaengine_get holds (the
    first one: the model has one CPU, so one channel table)."""
    with _list_lock:
        for chan in _public_held:
            if chan.device.cap_mask & cap and chan.device in _dma_device_list:
                return chan
    return None


def request_chan_by_mask(mask: Cap) -> DmaChan:
    """``dma_request_chan_by_mask``: any free channel of a device with all of ``mask``.

    As in the kernel, only a request by name (:func:`request_chan`) records a client
    name; a channel taken by mask shows as ``in-use`` in :func:`summary`."""
    with _list_lock:
        for device in _dma_device_list:
            if device.cap_mask & mask != mask:
                continue
            for chan in device.channels:
                if chan.client_count == 0:
                    _make_private(device)
                    _chan_get(chan)
                    return chan
    raise DmaEngineError(errno.ENODEV, f"no free DMA channel with {mask!r}")


def find_chan(name: str) -> DmaChan:
    """A channel by its ``dma<dev>chan<n>`` name (dmatest's ``channel=`` parameter)."""
    with _list_lock:
        for device in _dma_device_list:
            for chan in device.channels:
                if chan.name == name:
                    return chan
    raise DmaEngineError(errno.ENODEV, f"no DMA channel {name!r}")


def request_this_chan(chan: DmaChan) -> DmaChan:
    """``dma_request_channel`` with a filter that matches ``chan`` alone (dmatest's
    ``channel=``): EBUSY when it is taken."""
    with _list_lock:
        if chan.client_count:
            raise DmaEngineError(errno.EBUSY, f"{chan.name} is {_in_use(chan)}")
        _make_private(chan.device)
        _chan_get(chan)
        return chan


def release_channel(chan: DmaChan) -> None:
    """``dma_release_channel``: the last user synchronizes, then resources are freed."""
    with _list_lock:
        if chan.client_count == 0:
            return
        chan.client_count -= 1
        if chan.client_count == 0:
            if chan.device.device_synchronize is not None:
                chan.device.device_synchronize(chan)
            chan.terminating = False
            if chan.device.device_free_chan_resources is not None:
                chan.device.device_free_chan_resources(chan)
            chan.slave = None
            chan.dbg_client_name = None
            device = chan.device
            device.privatecnt -= 1
            if device.privatecnt == 0:
                device.cap_mask &= ~Cap.PRIVATE


def dma_run_dependencies(tx: AsyncTxDescriptor) -> None:
    """Submit and issue the operations chained behind ``tx`` (``txd_chain``)."""
    dep = tx.next
    if dep is None:
        return
    tx.next = None
    chan = dep.chan
    while dep is not None:
        dep.parent = None
        nxt = dep.next
        if nxt is not None and nxt.chan is chan:
            dep.next = None
        else:
            nxt = None
        dep.tx_submit()
        dep = nxt
    issue_pending_op(chan.device)(chan)


def summary() -> str:
    """The text of /sys/kernel/debug/dmaengine/summary."""
    blocks = []
    with _list_lock:
        for device in _dma_device_list:
            name = getattr(device.dev, "name", "?")
            lines = [f"dma{device.dev_id} ({name}): number of channels: {len(device.channels)}"]
            for chan in device.channels:
                if chan.client_count:
                    lines.append(f" {chan.name:<13}| {chan.dbg_client_name or 'in-use'}")
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def registered_devices() -> list[DmaDevice]:
    with _list_lock:
        return list(_dma_device_list)
