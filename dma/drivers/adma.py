"""Provider driver for the XOR and P+Q engine, as the kernel's RAID engine drivers
(mv_xor, iop-adma) drive theirs.

Counterpart: drivers/dma/mv_xor.c and iop-adma.c, in their shape: descriptor slots in
coherent memory allocated ahead, taken by prep from a free list and given back once
complete and acked (CTRL_ACK); a submitted descriptor is linked behind the channel's
chain (the engine reads NEXT when a descriptor completes); the tasklet walks the chain in
order, runs callbacks and ``dma_run_dependencies``, and recycles what is acked.

Operations: MEMCPY, XOR, XOR_VAL, PQ (with native continuation: DMA_HAS_PQ_CONTINUE),
PQ_VAL and INTERRUPT; 16 sources; 8-byte alignment for XOR and P+Q.
"""

from __future__ import annotations

import struct
from typing import cast

import numpy as np

from dma.cookie import dma_cookie_assign, dma_cookie_complete, dma_cookie_status
from dma.core import (
    DmaChan,
    DmaDevice,
    async_device_register,
    async_device_unregister,
    dma_run_dependencies,
)
from dma.dmaengine import (
    AsyncTxDescriptor,
    Cap,
    DmaengineAlignment,
    DmaengineResult,
    DmaStatus,
    DmaTxResult,
    PrepFlags,
    SumCheck,
    SumCheckFlags,
    TxState,
    async_tx_test_ack,
    dma_async_tx_descriptor_init,
    dma_set_maxpq,
)
from dma.mapping import dma_alloc_coherent, dma_debug_device_removed, dma_free_coherent
from dma.tasklet import Tasklet
from soc import adma as hw
from soc.platform import (
    PlatformDevice,
    PlatformDriver,
    platform_get_irq,
    platform_get_resource,
)

SLOTS = 128  # descriptor slots a channel allocates at its first use
MAX_SOURCES = hw.MAX_SOURCES


class AdmaDesc(AsyncTxDescriptor):
    """A descriptor slot: its ``dma_async_tx_descriptor`` and its hardware words."""

    def __init__(self, chan: AdmaChan, index: int) -> None:
        super().__init__(chan, PrepFlags.NONE)
        self.index = index
        self.phys = chan.slots_bus + index * hw.DESC_BYTES
        self.words = chan.slots_cpu[index * hw.DESC_BYTES:(index + 1) * hw.DESC_BYTES]
        self.result: SumCheck | None = None
        self.outcome = DmaengineResult()

    def tx_submit(self) -> int:
        return cast(AdmaChan, self.chan).drv.tx_submit(self)

    def write(self, op: int, nbytes: int, srcs: list[int], dest: int = 0, q: int = 0,
              coefs: bytes = b"", ctrl: int = 0) -> None:
        words = [0, op | (len(srcs) << hw.CTRL_SRC_SHIFT) | ctrl, nbytes, dest, q, 0]
        words += srcs + [0] * (MAX_SOURCES - len(srcs))
        self.words[:] = 0
        self.words[:104] = np.frombuffer(struct.pack("<22I", *words) +
                                        coefs.ljust(16, b"\0"), np.uint8)

    def status(self) -> int:
        return int(self.words[4 * hw.D_STATUS:4 * hw.D_STATUS + 4].view("<u4")[0])

    def link(self, nxt: int) -> None:
        self.words[0:4] = np.frombuffer(struct.pack("<I", nxt), np.uint8)


class AdmaChan(DmaChan):
    """``struct mv_xor_chan``: its slots, its chain and its tasklet."""

    def __init__(self, drv: Adma, device: DmaDevice, n: int) -> None:
        super().__init__(device, drv.pdev.soc.clock.spinlock)
        self.drv, self.n = drv, n
        self.slots_cpu = np.zeros(0, np.uint8)
        self.slots_bus = 0
        self.free_slots: list[AdmaDesc] = []
        self.chain: list[AdmaDesc] = []  # submitted, in order, the engine's and pending
        self.completed_slots: list[AdmaDesc] = []  # done, waiting for their ack
        self.failed: set[int] = set()  # cookies of operations that failed
        self.task = Tasklet(lambda: drv.slot_cleanup(self), drv.pdev.soc.cpu,
                            drv.pdev.soc.clock.spinlock())

    def reg(self, off: int) -> int:
        return self.drv.base + self.n * hw.CH_STRIDE + off


def to_adma_chan(chan: DmaChan) -> AdmaChan:
    return cast(AdmaChan, chan)


class Adma:
    """The driver's state and its ``dma_device``."""

    def __init__(self, pdev: PlatformDevice) -> None:
        self.pdev = pdev
        self.bus = pdev.soc.bus
        self.base = platform_get_resource(pdev)[0]  # the controller's registers
        self.irq = platform_get_irq(pdev, 0)
        self.ddma = DmaDevice(
            dev=pdev,
            cap_mask=(Cap.MEMCPY | Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL
                      | Cap.INTERRUPT),
            max_xor=MAX_SOURCES, xor_align=DmaengineAlignment.ALIGN_8_BYTES,
            pq_align=DmaengineAlignment.ALIGN_8_BYTES,
            device_alloc_chan_resources=self.alloc_chan_resources,
            device_free_chan_resources=self.free_chan_resources,
            device_prep_dma_memcpy=self.prep_dma_memcpy,
            device_prep_dma_xor=self.prep_dma_xor,
            device_prep_dma_xor_val=self.prep_dma_xor_val,
            device_prep_dma_pq=self.prep_dma_pq,
            device_prep_dma_pq_val=self.prep_dma_pq_val,
            device_prep_dma_interrupt=self.prep_dma_interrupt,
            device_tx_status=self.tx_status,
            device_issue_pending=self.issue_pending,
            device_terminate_all=self.terminate_all,
        )
        dma_set_maxpq(self.ddma, MAX_SOURCES, True)  # the engine continues a P+Q itself
        for n in range(pdev.node.props.get("dma-channels", 2)):
            self.ddma.channels.append(AdmaChan(self, self.ddma, n))

    def readl(self, addr: int) -> int:
        return self.bus.read32(addr)

    def writel(self, addr: int, value: int) -> None:
        self.bus.write32(addr, value)

    # -- slots --

    def alloc_chan_resources(self, chan: DmaChan) -> int:
        """``mv_xor_alloc_chan_resources``: the slots, in coherent memory, ahead."""
        ch = to_adma_chan(chan)
        if not ch.free_slots and not ch.chain:
            ch.slots_cpu, ch.slots_bus = dma_alloc_coherent(self.pdev, SLOTS * hw.DESC_BYTES)
            ch.free_slots = [AdmaDesc(ch, i) for i in range(SLOTS)]
            ch.completed_slots = []
        self.writel(ch.reg(hw.IMR), hw.CSR_EOC | hw.CSR_EOD | hw.CSR_ERR)
        return len(ch.free_slots)

    def free_chan_resources(self, chan: DmaChan) -> None:
        ch = to_adma_chan(chan)
        ch.task.kill()
        self.slot_cleanup(ch)
        if ch.slots_bus:
            dma_free_coherent(self.pdev, SLOTS * hw.DESC_BYTES, ch.slots_bus)
        ch.slots_bus, ch.free_slots, ch.chain, ch.completed_slots = 0, [], [], []

    def _alloc_slot(self, ch: AdmaChan, flags: PrepFlags) -> AdmaDesc | None:
        """A free slot (after a cleanup if there is none); None where all are in use."""
        with ch.lock:
            if not ch.free_slots:
                self._recycle(ch)
            if not ch.free_slots:
                return None
            desc = ch.free_slots.pop(0)
        dma_async_tx_descriptor_init(desc, ch)
        desc.flags, desc.cookie = PrepFlags(flags), 0
        desc.callback = desc.callback_result = None
        desc.next = desc.parent = None
        desc.result, desc.outcome = None, DmaengineResult()
        return desc

    # -- prep --

    def _int(self, flags: PrepFlags) -> int:
        return hw.CTRL_INT if flags & PrepFlags.PREP_INTERRUPT else 0

    def prep_dma_memcpy(self, chan: DmaChan, dst: int, src: int, length: int,
                        flags: PrepFlags) -> AdmaDesc | None:
        return self._prep_sources(chan, hw.OP_MEMCPY, [src], 1, length, flags, dst,
                                  ctrl=self._int(flags))

    def _prep_sources(self, chan: DmaChan, op: int, srcs: list[int], src_cnt: int,
                      length: int, flags: PrepFlags, dest: int = 0, q: int = 0,
                      scf: bytes = b"", ctrl: int = 0,
                      result: SumCheck | None = None) -> AdmaDesc | None:
        """One descriptor of ``src_cnt`` sources: what every XOR and P+Q prep shares."""
        if not 0 < src_cnt <= MAX_SOURCES:
            return None
        desc = self._alloc_slot(to_adma_chan(chan), flags)
        if desc is not None:
            desc.write(op, length, list(srcs[:src_cnt]), dest, q, bytes(scf[:src_cnt]),
                       ctrl)
            desc.result = result
        return desc

    def prep_dma_xor(self, chan: DmaChan, dst: int, srcs: list[int], src_cnt: int,
                     length: int, flags: PrepFlags) -> AdmaDesc | None:
        return self._prep_sources(chan, hw.OP_XOR, srcs, src_cnt, length, flags, dst,
                                  ctrl=self._int(flags))

    def prep_dma_xor_val(self, chan: DmaChan, srcs: list[int], src_cnt: int, length: int,
                         result: SumCheck, flags: PrepFlags) -> AdmaDesc | None:
        return self._prep_sources(chan, hw.OP_XOR_VAL, srcs, src_cnt, length, flags,
                                  ctrl=self._int(flags), result=result)

    def _pq_ctrl(self, flags: PrepFlags) -> int:
        ctrl = self._int(flags)
        if flags & PrepFlags.PREP_PQ_DISABLE_P:
            ctrl |= hw.CTRL_P_DIS
        if flags & PrepFlags.PREP_PQ_DISABLE_Q:
            ctrl |= hw.CTRL_Q_DIS
        if flags & PrepFlags.PREP_CONTINUE:
            ctrl |= hw.CTRL_CONT
        return ctrl

    def prep_dma_pq(self, chan: DmaChan, dst: list[int], srcs: list[int], src_cnt: int,
                    scf: bytes, length: int, flags: PrepFlags) -> AdmaDesc | None:
        """``device_prep_dma_pq``: P into dst[0], Q into dst[1], coefficients ``scf``."""
        return self._prep_sources(chan, hw.OP_PQ, srcs, src_cnt, length, flags, dst[0],
                                  dst[1], scf, self._pq_ctrl(flags))

    def prep_dma_pq_val(self, chan: DmaChan, pq: list[int], srcs: list[int], src_cnt: int,
                        scf: bytes, length: int, result: SumCheck,
                        flags: PrepFlags) -> AdmaDesc | None:
        """``device_prep_dma_pq_val``: P and Q at pq[0], pq[1] checked; ``result`` says
        which was not zero."""
        return self._prep_sources(chan, hw.OP_PQ_VAL, srcs, src_cnt, length, flags, pq[0],
                                  pq[1], scf, self._pq_ctrl(flags), result)

    def prep_dma_interrupt(self, chan: DmaChan, flags: PrepFlags) -> AdmaDesc | None:
        desc = self._alloc_slot(to_adma_chan(chan), flags)
        if desc is not None:
            desc.write(hw.OP_NULL, 0, [], ctrl=hw.CTRL_INT)
        return desc

    # -- submit, issue, complete --

    def tx_submit(self, desc: AdmaDesc) -> int:
        """``mv_xor_tx_submit``: a cookie, and the descriptor linked behind the chain."""
        ch = to_adma_chan(desc.chan)
        with ch.lock:
            cookie = dma_cookie_assign(desc)
            if ch.chain:
                ch.chain[-1].link(desc.phys)
            ch.chain.append(desc)
        return cookie

    def issue_pending(self, chan: DmaChan) -> None:
        """Start the engine on the first descriptor it has not done, if it is idle."""
        ch = to_adma_chan(chan)
        with ch.lock:
            self._start(ch)

    def _start(self, ch: AdmaChan) -> None:
        if self.readl(ch.reg(hw.CSR)) & hw.CSR_BUSY:
            return  # the engine reads the NEXT we linked when it gets there
        first = next((d for d in ch.chain if not d.status() & hw.ST_DONE), None)
        if first is not None:
            self.writel(ch.reg(hw.NDAR), first.phys)
            self.writel(ch.reg(hw.CCR), hw.CCR_ENABLE)

    def irq_handler(self, irq: int) -> None:
        """The top half: acknowledge, and leave the rest to each channel's tasklet."""
        for chan in self.ddma.channels:
            ch = to_adma_chan(chan)
            csr = self.readl(ch.reg(hw.CSR))
            events = csr & (hw.CSR_EOC | hw.CSR_EOD | hw.CSR_ERR)
            if events:
                self.writel(ch.reg(hw.CSR), events)
                if events & hw.CSR_ERR:  # the engine stopped: what it had not done fails,
                    with ch.lock:  # the operations queued behind it on the channel too
                        for d in ch.chain:
                            if not d.status() & hw.ST_DONE:
                                d.outcome = DmaengineResult(DmaTxResult.ABORTED, 0)
                ch.task.schedule()

    def slot_cleanup(self, ch: AdmaChan) -> None:
        """``mv_xor_slot_cleanup``: the chain's done descriptors, in order: results,
        callbacks, dependencies; then the acked ones back to the free list."""
        desc = self._take_done(ch)
        while desc is not None:
            failed = desc.outcome.result != DmaTxResult.NOERROR
            desc.invoke_callback(desc.outcome)
            if not failed:
                dma_run_dependencies(desc)
            desc = self._take_done(ch)
        with ch.lock:
            self._recycle(ch)
            if ch.chain:
                self._start(ch)

    def _take_done(self, ch: AdmaChan) -> AdmaDesc | None:
        """The chain's first descriptor, if the engine has done it (or it failed): off
        the chain, its result and cookie written, on the completed list."""
        with ch.lock:
            if not ch.chain:
                return None
            desc = ch.chain[0]
            failed = desc.outcome.result != DmaTxResult.NOERROR
            if not desc.status() & hw.ST_DONE and not failed:
                return None
            ch.chain.pop(0)
            if desc.result is not None:
                st = desc.status()
                desc.result.flags = SumCheckFlags(
                    (SumCheckFlags.SUM_CHECK_P_RESULT if st & hw.ST_P_FAIL else 0)
                    | (SumCheckFlags.SUM_CHECK_Q_RESULT if st & hw.ST_Q_FAIL else 0))
            if failed:
                ch.failed.add(desc.cookie)
            else:
                dma_cookie_complete(desc)
            ch.completed_slots.append(desc)
            return desc

    def _recycle(self, ch: AdmaChan) -> None:
        """Completed slots whose client has acked them go back to the free list."""
        keep: list[AdmaDesc] = []
        for desc in ch.completed_slots:
            (ch.free_slots if async_tx_test_ack(desc) else keep).append(desc)
        ch.completed_slots = keep

    def tx_status(self, chan: DmaChan, cookie: int, state: TxState | None) -> DmaStatus:
        ch = to_adma_chan(chan)
        ret = dma_cookie_status(chan, cookie, state)
        if ret == DmaStatus.COMPLETE:
            return ret
        self.slot_cleanup(ch)  # as mv_xor_status: collect what is done first
        ret = dma_cookie_status(chan, cookie, state)
        return DmaStatus.ERROR if cookie in ch.failed else ret

    def terminate_all(self, chan: DmaChan) -> None:
        ch = to_adma_chan(chan)
        with ch.lock:
            for desc in ch.chain:
                dma_cookie_complete(desc)
                desc.flags |= PrepFlags.CTRL_ACK
                ch.completed_slots.append(desc)
            ch.chain = []
            ch.failed.clear()
            self._recycle(ch)


def probe(pdev: PlatformDevice) -> None:
    drv = Adma(pdev)
    pdev.drvdata = drv
    pdev.soc.irqc.request_irq(drv.irq, drv.irq_handler, pdev.name)
    async_device_register(drv.ddma)


def remove(pdev: PlatformDevice) -> None:
    drv: Adma = pdev.drvdata
    async_device_unregister(drv.ddma)
    for chan in drv.ddma.channels:
        drv.terminate_all(chan)
        drv.free_chan_resources(chan)
    pdev.soc.irqc.free_irq(drv.irq)
    dma_debug_device_removed(pdev)


DRIVER = PlatformDriver(compatible=("dma-audio,adma",), probe=probe, remove=remove,
                        name="adma")
