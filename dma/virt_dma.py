"""Virtual DMA channels: descriptor lists and the completion tasklet.

Counterpart: drivers/dma/virt-dma.{c,h}.
Locking: the lists are the channel's, under ``vc.lock``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dma.cookie import dma_cookie_assign, dma_cookie_complete
from dma.core import DmaChan, DmaDevice
from dma.dmaengine import (
    AsyncTxDescriptor,
    DmaengineResult,
    PrepFlags,
    dma_async_tx_descriptor_init,
)
from dma.tasklet import BottomHalfExecutor, Tasklet


class VirtDesc(AsyncTxDescriptor):
    """``struct virt_dma_desc``: a descriptor with its result and list membership."""

    def __init__(self, chan: VirtChan, flags: PrepFlags) -> None:
        super().__init__(chan, flags)
        self.vc = chan
        self.tx_result = DmaengineResult()

    def tx_submit(self) -> int:
        return vchan_tx_submit(self)

    def desc_free(self) -> None:
        vchan_tx_desc_free(self)


D = TypeVar("D", bound=VirtDesc)


class VirtChan(DmaChan):
    """``struct virt_dma_chan``."""

    def __init__(
        self,
        device: DmaDevice,
        desc_free: Callable[[VirtDesc], None],
        cpu: BottomHalfExecutor,
        spin_lock_init: Callable[[], Any] | None = None,
    ) -> None:
        """``vchan_init``: the lists empty, the completion tasklet on ``cpu``; the channel's
        and the tasklet's locks from the provider's ``spin_lock_init``."""
        super().__init__(device, spin_lock_init)
        self.desc_free = desc_free
        self.desc_allocated: list[VirtDesc] = []
        self.desc_submitted: list[VirtDesc] = []
        self.desc_issued: list[VirtDesc] = []
        self.desc_completed: list[VirtDesc] = []
        self.desc_terminated: list[VirtDesc] = []
        self.cyclic: VirtDesc | None = None
        self.task = Tasklet(self._complete, cpu,
                            spin_lock_init() if spin_lock_init is not None else None)
        self.cyclic_callbacks = 0
        device.channels.append(self)

    def _lists(self) -> tuple[list[VirtDesc], ...]:
        return (
            self.desc_allocated,
            self.desc_submitted,
            self.desc_issued,
            self.desc_completed,
            self.desc_terminated,
        )

    def _unlink(self, vd: VirtDesc) -> None:
        for lst in self._lists():
            if vd in lst:
                lst.remove(vd)
                return

    def _complete(self) -> None:
        """``vchan_complete``: the tasklet body. Each completed descriptor's callback runs
        before the descriptor is freed (or put back on ``desc_allocated`` when reusable),
        so a callback still sees its descriptor whole and on no list."""
        with self.lock:
            vd = self.cyclic
            self.cyclic = None
            done, self.desc_completed = self.desc_completed, []
        if vd is not None:
            self.cyclic_callbacks += 1
            vd.invoke_callback(vd.tx_result)
        for vd in done:
            vd.invoke_callback(vd.tx_result)
            vchan_vdesc_fini(vd)


def vchan_tx_prep(vc: VirtChan, vd: D) -> D:
    """Put a freshly prepared descriptor on ``desc_allocated``."""
    dma_async_tx_descriptor_init(vd, vc)
    with vc.lock:
        vc.desc_allocated.append(vd)
    return vd


def vchan_tx_submit(vd: VirtDesc) -> int:
    vc = vd.vc
    with vc.lock:
        cookie = dma_cookie_assign(vd)
        vc._unlink(vd)
        vc.desc_submitted.append(vd)
    return cookie


def vchan_tx_desc_free(vd: VirtDesc) -> None:
    vc = vd.vc
    with vc.lock:
        vc._unlink(vd)
    vc.desc_free(vd)


def vchan_issue_pending(vc: VirtChan) -> bool:
    """Splice submitted onto issued; True when there is issued work. Lock held."""
    vc.desc_issued.extend(vc.desc_submitted)
    vc.desc_submitted.clear()
    return bool(vc.desc_issued)


def vchan_next_desc(vc: VirtChan) -> VirtDesc | None:
    return vc.desc_issued[0] if vc.desc_issued else None


def vchan_find_desc(vc: VirtChan, cookie: int) -> VirtDesc | None:
    """The issued descriptor with ``cookie`` (only the issued list is searched: a
    submitted one is not found). Lock held."""
    for vd in vc.desc_issued:
        if vd.cookie == cookie:
            return vd
    return None


def vchan_cookie_complete(vd: VirtDesc) -> None:
    """A non-cyclic descriptor finished: complete its cookie, queue its callback."""
    vc = vd.vc
    dma_cookie_complete(vd)
    vc._unlink(vd)
    vc.desc_completed.append(vd)
    vc.task.schedule()


def vchan_cyclic_callback(vd: VirtDesc) -> None:
    """A period of a cyclic descriptor elapsed: no count, just a pointer and a tasklet."""
    vd.vc.cyclic = vd
    vd.vc.task.schedule()


def vchan_terminate_vdesc(vd: VirtDesc) -> None:
    """The running descriptor was terminated: park it for synchronize, drop its period."""
    vc = vd.vc
    vc._unlink(vd)
    vc.desc_terminated.append(vd)
    if vc.cyclic is vd:
        vc.cyclic = None


def vchan_vdesc_fini(vd: VirtDesc) -> None:
    """After its callback: a reusable descriptor goes back to allocated, others are freed."""
    vc = vd.vc
    if vd.flags & PrepFlags.CTRL_REUSE:
        with vc.lock:
            vc._unlink(vd)
            vc.desc_allocated.append(vd)
    else:
        vc.desc_free(vd)


def vchan_get_all_descriptors(vc: VirtChan) -> list[VirtDesc]:
    """Take every descriptor off every list. Lock held."""
    head: list[VirtDesc] = []
    for lst in vc._lists():
        head.extend(lst)
        lst.clear()
    return head


def vchan_dma_desc_free_list(vc: VirtChan, head: list[VirtDesc]) -> None:
    """Finish each descriptor taken off the lists: a reusable one goes back to
    ``desc_allocated`` (a terminate does not take it from its client), others are freed."""
    for vd in head:
        vchan_vdesc_fini(vd)


def vchan_free_chan_resources(vc: VirtChan) -> None:
    """Free every descriptor, reusable ones too: their REUSE mark is cleared first."""
    with vc.lock:
        head = vchan_get_all_descriptors(vc)
        for vd in head:
            vd.flags &= ~PrepFlags.CTRL_REUSE
    vchan_dma_desc_free_list(vc, head)


def vchan_synchronize(vc: VirtChan) -> None:
    """Let a pending tasklet run (it finds nothing left to call), then finish the
    terminated descriptors (freed, or back on ``desc_allocated`` when reusable)."""
    vc.task.kill()
    with vc.lock:
        head, vc.desc_terminated = vc.desc_terminated, []
    vchan_dma_desc_free_list(vc, head)
