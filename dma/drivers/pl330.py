"""Provider driver for the PL330-style controller: microcode, a descriptor pool, its own lists.

Counterpart: drivers/dma/pl330.c. One ``dma_chan`` per peripheral request line (and at
least one per channel thread); a channel takes a hardware thread and an event when a
client requests it. Each descriptor is one request: the driver writes its microcode
(``_setup_req``) into one of the thread's two buffers in coherent memory and starts the
thread with DMAGO through the debug registers. A cyclic transfer is one descriptor a
period, each put back on the work list as it completes. Descriptors come from a pool
allocated at probe and grown when empty.

Departs from mainline: a faulted request is reported (DMA_ERROR, the dmaengine result)
and its channel starts nothing until terminated (docs/departures.md).
"""

from __future__ import annotations

import enum
import logging
from typing import cast

import numpy as np

from dma.cookie import (
    dma_cookie_assign,
    dma_cookie_complete,
    dma_cookie_init,
    dma_cookie_status,
    dma_set_residue,
)
from dma.core import (
    DmaChan,
    DmaDevice,
    async_device_register,
    async_device_unregister,
    of_dma_controller_free,
    of_dma_controller_register,
)
from dma.dmaengine import (
    AsyncTxDescriptor,
    Cap,
    DmaengineResult,
    DmaStatus,
    DmaTxResult,
    PrepFlags,
    ResidueGranularity,
    SlaveConfig,
    TransferDirection,
    TxState,
    dma_async_tx_descriptor_init,
    is_slave_direction,
)
from dma.errors import DmaEngineError
from dma.mapping import dma_alloc_coherent, dma_debug_device_removed, dma_free_coherent
from dma.tasklet import Tasklet
from soc import pl330 as hw
from soc.platform import (
    PlatformDevice,
    PlatformDriver,
    platform_get_irq,
    platform_get_resource,
)

log = logging.getLogger(__name__)

MAX_BURST = 16  # PL330_MAX_BURST
MCODE_BUFF_PER_REQ = 256
NR_DEFAULT_DESC = 16
BUSWIDTHS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 4) | (1 << 8)
SAR, CCR, DAR = 0, 1, 2  # enum dmamov_dst
SINGLE, BURST, ALWAYS = 0, 1, 2  # enum pl330_cond


class DescStatus(enum.Enum):
    """``enum desc_status``."""

    FREE = "free"  # in the DMAC's pool
    PREP = "prep"  # taken by a channel, maybe on its work list
    BUSY = "busy"  # submitted to a hardware thread (two at most)
    DONE = "done"  # on the work list, done by the hardware


class Pl330Desc(AsyncTxDescriptor):
    """``struct dma_pl330_desc``: one request, with its ``dma_async_tx_descriptor``."""

    def __init__(self, drv: Pl330Dmac) -> None:
        super().__init__(drv.no_chan, PrepFlags.NONE)
        self.drv = drv
        self.status = DescStatus.FREE
        self.pchan: Pl330Chan | None = None
        self.src = self.dst = self.bytes_requested = 0  # struct pl330_xfer
        self.src_inc = self.dst_inc = False  # struct pl330_reqcfg
        self.brst_size = 0  # log2 bytes a beat
        self.brst_len = 1
        self.rqtype = TransferDirection.MEM_TO_MEM
        self.peri = 0
        self.last = False
        self.result = DmaengineResult()
        self.chain: list[Pl330Desc] = []  # prep's descriptors, this one last

    def tx_submit(self) -> int:
        return self.drv.tx_submit(self)


class Pl330Thread:
    """``struct pl330_thread``: the driver's view of one hardware channel thread."""

    def __init__(self, n: int, mc_cpu: np.ndarray, mc_bus: int, half: int) -> None:
        self.id = n
        self.ev = -1
        self.free = True
        self.req_cpu = (mc_cpu[:half], mc_cpu[half:])  # the two request buffers
        self.req_bus = (mc_bus, mc_bus + half)
        self.req_desc: list[Pl330Desc | None] = [None, None]
        self.lstenq = 1  # index of the last enqueued request
        self.req_running = -1  # index of the running request, -1 if stopped


class Pl330Chan(DmaChan):
    """``struct dma_pl330_chan``."""

    def __init__(self, drv: Pl330Dmac, device: DmaDevice, n: int) -> None:
        super().__init__(device, drv.pdev.soc.clock.spinlock)
        self.drv = drv
        self.n = n
        self.submitted_list: list[Pl330Desc] = []
        self.work_list: list[Pl330Desc] = []
        self.completed_list: list[Pl330Desc] = []
        self.thread: Pl330Thread | None = None
        self.task = Tasklet(self.tasklet, drv.pdev.soc.cpu, drv.pdev.soc.clock.spinlock())
        self.burst_sz = 0  # log2 of the peripheral FIFO's width
        self.burst_len = 1
        self.fifo_addr = 0
        self.slave_config = SlaveConfig()
        self.cyclic = False
        self.failed = False  # a request faulted: nothing starts until terminate_all

    def tasklet(self) -> None:
        self.drv.tasklet(self)


def to_pchan(chan: DmaChan) -> Pl330Chan:
    return cast(Pl330Chan, chan)


class Pl330Dmac:
    """``struct pl330_dmac``: the controller's driver state and its ``dma_device``."""

    def __init__(self, pdev: PlatformDevice) -> None:
        self.pdev = pdev
        self.bus = pdev.soc.bus
        self.base = platform_get_resource(pdev)[0]  # the controller's registers
        self.irq = platform_get_irq(pdev, 0)
        self.lock = pdev.soc.clock.spinlock()
        self.pool_lock = pdev.soc.clock.spinlock()
        self.desc_pool: list[Pl330Desc] = []
        self.periph_id = sum(self.readl(0xFE0 + 4 * i) << (8 * i) for i in range(4))
        if self.periph_id & 0xFFFFF != 0x41330:
            raise DmaEngineError(22, f"pl330: PERIPH_ID 0x{self.periph_id:x}")
        self._read_dmac_config()
        self.mcbufsz = MCODE_BUFF_PER_REQ * 2
        self.mcode_cpu, self.mcode_bus = dma_alloc_coherent(pdev, self.num_chan * self.mcbufsz)
        self.threads = [
            Pl330Thread(i, self.mcode_cpu[i * self.mcbufsz:(i + 1) * self.mcbufsz],
                        self.mcode_bus + i * self.mcbufsz, self.mcbufsz // 2)
            for i in range(self.num_chan)]
        self.events = [-1] * self.num_events
        self.ddma = DmaDevice(
            dev=pdev, cap_mask=Cap.MEMCPY | Cap.SLAVE | Cap.CYCLIC,
            src_addr_widths=BUSWIDTHS, dst_addr_widths=BUSWIDTHS,
            directions=(1 << TransferDirection.DEV_TO_MEM) | (1 << TransferDirection.MEM_TO_DEV),
            min_burst=1, max_burst=MAX_BURST,
            residue_granularity=ResidueGranularity.BURST,
            device_alloc_chan_resources=self.alloc_chan_resources,
            device_free_chan_resources=self.free_chan_resources,
            device_prep_dma_memcpy=self.prep_dma_memcpy,
            device_prep_dma_cyclic=self.prep_dma_cyclic,
            device_prep_slave_sg=self.prep_slave_sg,
            device_tx_status=self.tx_status,
            device_config=self.config,
            device_pause=self.pause,
            device_terminate_all=self.terminate_all,
            device_issue_pending=self.issue_pending,
        )
        for i in range(max(self.num_peri, self.num_chan)):
            chan = Pl330Chan(self, self.ddma, i)
            self.ddma.channels.append(chan)
        # what a descriptor in the pool is bound to (txd.chan is NULL there): no channel
        # of the device's list
        self.no_chan = DmaChan(self.ddma)
        self.add_desc(NR_DEFAULT_DESC)

    # -- registers --

    def readl(self, off: int) -> int:
        return self.bus.read32(self.base + off)

    def writel(self, off: int, value: int) -> None:
        self.bus.write32(self.base + off, value)

    def _read_dmac_config(self) -> None:
        """``read_dmac_config``: what CR0 and CRD say the controller has."""
        crd, cr0 = self.readl(hw.CRD), self.readl(hw.CR0)
        self.data_bus_width = 8 << (crd & 7)  # bits
        self.data_buf_dep = ((crd >> 20) & 0x3FF) + 1
        self.num_chan = ((cr0 >> 4) & 7) + 1
        self.num_peri = ((cr0 >> 12) & 0x1F) + 1 if cr0 & 1 else 0
        self.num_events = ((cr0 >> 17) & 0x1F) + 1

    # -- the descriptor pool --

    def add_desc(self, count: int) -> int:
        """``add_desc``: ``count`` new descriptors into the pool."""
        with self.pool_lock:
            self.desc_pool.extend(Pl330Desc(self) for _ in range(count))
        return count

    def _pluck_desc(self) -> Pl330Desc | None:
        with self.pool_lock:
            if not self.desc_pool:
                return None
            desc = self.desc_pool.pop(0)
            desc.status = DescStatus.PREP
            desc.callback = desc.callback_result = None
            return desc

    def get_desc(self, pch: Pl330Chan) -> Pl330Desc:
        """``pl330_get_desc``: one from the pool, which grows by one when empty."""
        desc = self._pluck_desc()
        if desc is None:
            self.add_desc(1)
            desc = self._pluck_desc()
            assert desc is not None
        desc.pchan = pch
        desc.cookie = 0
        desc.flags = PrepFlags.CTRL_ACK  # async_tx_ack
        desc.peri = pch.n
        desc.last = False
        desc.chain = []
        desc.result = DmaengineResult()
        dma_async_tx_descriptor_init(desc, pch)
        return desc

    def giveback(self, descs: list[Pl330Desc]) -> None:
        """``__pl330_giveback_desc``: back to the pool."""
        with self.pool_lock:
            for desc in descs:
                desc.status = DescStatus.FREE
                self.desc_pool.append(desc)

    # -- microcode --

    @staticmethod
    def _ccr(desc: Pl330Desc) -> int:
        """``_prepare_ccr``: burst size and length on both sides; CCTRL0, no swap."""
        ccr = int(desc.src_inc) | (int(desc.dst_inc) << 14)
        ccr |= ((desc.brst_len - 1) & 0xF) << 4 | ((desc.brst_len - 1) & 0xF) << 18
        ccr |= desc.brst_size << 1 | desc.brst_size << 15
        return ccr

    def _ldst_peripheral(self, out: list[bytes], desc: Pl330Desc, cyc: int,
                         cond: int) -> None:
        to_dev = desc.rqtype == TransferDirection.MEM_TO_DEV
        peri = bytes((desc.peri << 3,))
        bs = {SINGLE: 0x01, BURST: 0x03, ALWAYS: 0x00}[cond]
        for _ in range(cyc):
            out.append(bytes((0x30 | (0x02 if cond == BURST else 0),)) + peri)  # DMAWFP
            if to_dev:
                out.append(bytes((0x04 | bs,)))  # DMALD
                out.append(bytes((0x29 | (0x02 if cond == BURST else 0),)) + peri)  # DMASTP
            else:
                out.append(bytes((0x25 | (0x02 if cond == BURST else 0),)) + peri)  # DMALDP
                out.append(bytes((0x08 | bs,)))  # DMAST

    def _bursts(self, out: list[bytes], desc: Pl330Desc, cyc: int, ccr: int) -> None:
        if desc.rqtype == TransferDirection.MEM_TO_MEM:
            out.extend([b"\x04", b"\x08"] * cyc)  # DMALD, DMAST (r1p0 on: no barriers)
        else:
            self._ldst_peripheral(out, desc, cyc, BURST if desc.brst_len > 1 else SINGLE)

    def _loop(self, out: list[bytes], desc: Pl330Desc, bursts: int, ccr: int) -> int:
        """``_loop``: DMALP (one or two deep) around the bursts; the bursts it covers."""
        if bursts == 1:
            self._bursts(out, desc, 1, ccr)
            return 1
        if bursts >= 256 * 256:
            lcnt1, lcnt0, cyc = 256, 256, bursts // (256 * 256)
        elif bursts > 256:
            lcnt1, lcnt0, cyc = 256, bursts // 256, 1
        else:
            lcnt1, lcnt0, cyc = bursts, 0, 1
        one: list[bytes] = []
        self._bursts(one, desc, 1, ccr)
        szbrst = sum(map(len, one))
        szlp, szlpend = (4, 4) if lcnt0 else (2, 2)
        cyc = min(cyc, (255 - (szlp + szlpend)) // szbrst)
        body: list[bytes] = []
        self._bursts(body, desc, cyc, ccr)
        inner = b"".join(body)
        code = bytes((0x22, lcnt1 - 1)) + inner + bytes((0x38 | 0x04, len(inner)))
        if lcnt0:
            code = bytes((0x20, lcnt0 - 1)) + code + bytes((0x38, len(code)))
        out.append(code)
        return lcnt1 * cyc * (lcnt0 or 1)

    def _setup_req(self, thrd: Pl330Thread, idx: int, desc: Pl330Desc) -> int:
        """``_setup_req``: CCR, SAR, DAR, the loops, the dregs, DMASEV and DMAEND, into
        the request's buffer; its size, or -ENOMEM if it does not fit."""
        ccr = self._ccr(desc)
        out = [self._mov(CCR, ccr), self._mov(SAR, desc.src), self._mov(DAR, desc.dst)]
        beat = 1 << desc.brst_size
        per = beat * desc.brst_len
        bursts = desc.bytes_requested // per
        dregs = (desc.bytes_requested - bursts * per) // beat
        if desc.rqtype != TransferDirection.MEM_TO_MEM:
            out.append(bytes((0x35, desc.peri << 3)))  # DMAFLUSHP: stale requests away
        while bursts:
            bursts -= self._loop(out, desc, bursts, ccr)
        if dregs:
            if desc.rqtype == TransferDirection.MEM_TO_MEM:
                small = ccr & ~((0xF << 4) | (0xF << 18))
                small |= ((dregs - 1) & 0xF) << 4 | ((dregs - 1) & 0xF) << 18
                out += [self._mov(CCR, small), b"\x04", b"\x08"]
            else:
                self._ldst_peripheral(out, desc, dregs, SINGLE)
        out += [bytes((0x34, thrd.ev << 3)), b"\x00"]  # DMASEV ev, DMAEND
        code = b"".join(out)
        if len(code) > self.mcbufsz // 2:
            return -12
        thrd.req_cpu[idx][:len(code)] = np.frombuffer(code, np.uint8)
        return len(code)

    @staticmethod
    def _mov(rd: int, value: int) -> bytes:
        return bytes((0xBC, rd)) + (value & 0xFFFFFFFF).to_bytes(4, "little")

    # -- the hardware threads (pl330.c's core half) --

    def _execute_dbginsn(self, insn: bytes, thrd: Pl330Thread | None) -> None:
        """``_execute_DBGINSN``: as the manager (``thrd`` None) or as a channel thread."""
        val = (insn[0] << 16) | (insn[1] << 24) if len(insn) > 1 else insn[0] << 16
        if thrd is not None:
            val |= 1 | (thrd.id << 8)
        self.writel(hw.DBGINST0, val)
        self.writel(hw.DBGINST1, int.from_bytes(insn[2:6].ljust(4, b"\0"), "little"))
        if self.readl(hw.DBGSTATUS) & 1:
            log.error("%s: DMAC halted!", self.pdev.name)
            return
        self.writel(hw.DBGCMD, 0)

    def _state(self, thrd: Pl330Thread) -> int:
        return self.readl(hw.CSR_BASE + 8 * thrd.id) & 0xF

    def _stop(self, thrd: Pl330Thread) -> None:
        """``_stop``: DMAKILL the thread, and no more interrupts for its event."""
        if self._state(thrd) in (hw.COMPLETING, hw.KILLING, hw.STOPPED):
            return
        inten = self.readl(hw.INTEN)
        self._execute_dbginsn(b"\x01", thrd)
        if inten & (1 << thrd.ev):
            self.writel(hw.INTCLR, 1 << thrd.ev)
        self.writel(hw.INTEN, inten & ~(1 << thrd.ev))

    def _trigger(self, thrd: Pl330Thread) -> None:
        """``_trigger``: start the request queued first, with DMAGO, if stopped."""
        if self._state(thrd) != hw.STOPPED:
            return
        idx = 1 - thrd.lstenq
        if thrd.req_desc[idx] is None:
            idx = thrd.lstenq
            if thrd.req_desc[idx] is None:
                return
        if idx == thrd.req_running:
            return
        self.writel(hw.INTEN, self.readl(hw.INTEN) | (1 << thrd.ev))
        go = bytes((0xA0, thrd.id)) + thrd.req_bus[idx].to_bytes(4, "little")
        self._execute_dbginsn(go, None)
        thrd.req_running = idx

    def _start(self, thrd: Pl330Thread) -> None:
        state = self._state(thrd)
        if state == hw.FAULTING:
            self._stop(thrd)
            state = self._state(thrd)
        if state == hw.STOPPED:
            self._trigger(thrd)

    def _submit_req(self, thrd: Pl330Thread, desc: Pl330Desc) -> int:
        """``pl330_submit_req``: microcode into a free request slot; -EAGAIN if both
        are taken."""
        if desc.rqtype != TransferDirection.MEM_TO_MEM and desc.peri >= self.num_peri:
            return -22
        with self.lock:
            if thrd.req_desc[0] is not None and thrd.req_desc[1] is not None:
                return -11
            idx = 0 if thrd.req_desc[0] is None else 1
            ret = self._setup_req(thrd, idx, desc)
            if ret < 0:
                return ret
            thrd.lstenq = idx
            thrd.req_desc[idx] = desc
        return 0

    def irq_handler(self, irq: int) -> None:
        """``pl330_irq_handler`` / ``pl330_update``: faults, then the events: detach the
        finished request, start the other one, and mark the descriptor done."""
        done: list[Pl330Desc] = []
        with self.lock:
            fsc = self.readl(hw.FSRC) & ((1 << self.num_chan) - 1)
            for thrd in self.threads:
                if fsc & (1 << thrd.id):
                    log.info("%s: Reset Channel-%d\tCS-%x FTC-%x", self.pdev.name, thrd.id,
                             self.readl(hw.CSR_BASE + 8 * thrd.id),
                             self.readl(hw.FTR_BASE + 4 * thrd.id))
                    self._fault_thread(thrd)
            val = self.readl(hw.INT_EVENT_RIS)
            inten = self.readl(hw.INTEN)
            for ev in range(self.num_events):
                if not val & (1 << ev):
                    continue
                if inten & (1 << ev):
                    self.writel(hw.INTCLR, 1 << ev)
                tid = self.events[ev]
                if tid < 0:
                    continue
                thrd = self.threads[tid]
                active = thrd.req_running
                if active == -1:
                    continue
                desc = thrd.req_desc[active]
                thrd.req_desc[active] = None
                thrd.req_running = -1
                self._start(thrd)
                if desc is not None:
                    done.append(desc)
        for desc in done:
            self._rqcb(desc)

    def _fault_thread(self, thrd: Pl330Thread) -> None:
        """A faulted thread: killed, its requests failed (``pl330_dotask``'s reset); the
        fault type says how (a write or a read that failed; else aborted)."""
        ftr = self.readl(hw.FTR_BASE + 4 * thrd.id)
        self._stop(thrd)
        failed = (DmaTxResult.WRITE_FAILED if ftr & hw.DATA_WRITE_ERR else
                  DmaTxResult.READ_FAILED if ftr & hw.DATA_READ_ERR else DmaTxResult.ABORTED)
        for idx in (1 - thrd.lstenq, thrd.lstenq):
            desc = thrd.req_desc[idx]
            if desc is not None and desc.pchan is not None:
                desc.result = DmaengineResult(failed, desc.bytes_requested)
                desc.pchan.failed = True
                desc.status = DescStatus.DONE
                desc.pchan.task.schedule()
        thrd.req_desc = [None, None]
        thrd.req_running = -1

    def _rqcb(self, desc: Pl330Desc) -> None:
        """``dma_pl330_rqcb``: the request is done; the channel's tasklet does the rest."""
        pch = desc.pchan
        if pch is None:
            return
        with pch.lock:
            desc.status = DescStatus.DONE
        pch.task.schedule()

    # -- the dmaengine half --

    def _fill_queue(self, pch: Pl330Chan) -> None:
        assert pch.thread is not None
        for desc in pch.work_list:
            if desc.status == DescStatus.BUSY:
                continue
            ret = self._submit_req(pch.thread, desc)
            if ret == 0:
                desc.status = DescStatus.BUSY
            elif ret == -11:
                break
            else:
                desc.status = DescStatus.DONE
                log.error("%s: Bad Desc(%d)", self.pdev.name, desc.cookie)
                pch.task.schedule()

    def tasklet(self, pch: Pl330Chan) -> None:
        """``pl330_tasklet``: complete what is done, refill the thread, run callbacks;
        a cyclic channel puts each period's descriptor back on its work list."""
        with pch.lock:
            if pch.thread is None:
                return
            for desc in [d for d in pch.work_list if d.status == DescStatus.DONE]:
                if not pch.cyclic and desc.result.result == DmaTxResult.NOERROR:
                    dma_cookie_complete(desc)
                pch.work_list.remove(desc)
                pch.completed_list.append(desc)
            if not pch.failed:
                self._fill_queue(pch)
                if pch.work_list:
                    with self.lock:
                        self._start(pch.thread)
                else:
                    with self.lock:
                        self._stop(pch.thread)
            while pch.completed_list:
                desc = pch.completed_list.pop(0)
                result = desc.result
                if pch.cyclic and not pch.failed:
                    desc.status = DescStatus.PREP
                    pch.work_list.append(desc)
                elif not pch.cyclic:
                    self.giveback([desc])
                pch.lock.release()
                try:
                    desc.invoke_callback(result)
                finally:
                    pch.lock.acquire()

    def tx_submit(self, last: Pl330Desc) -> int:
        """``pl330_tx_submit``: cookies for the whole chain, which goes on the
        submitted list; a cyclic chain shares the last descriptor's callback."""
        pch = last.pchan
        assert pch is not None
        with pch.lock:
            chain = last.chain or [last]
            for desc in chain:
                if desc is not last and pch.cyclic:
                    desc.callback, desc.callback_param = last.callback, last.callback_param
                    desc.callback_result = last.callback_result
                desc.last = desc is last
                dma_cookie_assign(desc)
                pch.submitted_list.append(desc)
            return last.cookie

    def alloc_chan_resources(self, chan: DmaChan) -> int:
        pch = to_pchan(chan)
        with self.lock:
            dma_cookie_init(chan)
            pch.cyclic = pch.failed = False
            thrd = next((t for t in self.threads if t.free), None)
            ev = self.events.index(-1) if -1 in self.events else -1
            if thrd is None or ev < 0:
                return -12  # -ENOMEM: no thread or no event left
            self.events[ev] = thrd.id
            thrd.ev, thrd.free = ev, False
            thrd.lstenq, thrd.req_desc, thrd.req_running = 1, [None, None], -1
            pch.thread = thrd
        return 1

    def free_chan_resources(self, chan: DmaChan) -> None:
        pch = to_pchan(chan)
        pch.task.kill()
        with self.lock:
            thrd = pch.thread
            if thrd is not None:
                self._stop(thrd)
                if 0 <= thrd.ev < self.num_events and self.events[thrd.ev] == thrd.id:
                    self.events[thrd.ev] = -1
                thrd.free = True
            pch.thread = None
        if pch.cyclic:
            self.giveback(pch.work_list)
            pch.work_list = []

    def config(self, chan: DmaChan, cfg: SlaveConfig) -> None:
        to_pchan(chan).slave_config = cfg

    def _config_write(self, pch: Pl330Chan, direction: TransferDirection) -> None:
        """``pl330_config_write``: the FIFO address, beat and burst for ``direction``."""
        cfg = pch.slave_config
        to_dev = direction == TransferDirection.MEM_TO_DEV
        addr = cfg.dst_addr if to_dev else cfg.src_addr
        width = int(cfg.dst_addr_width if to_dev else cfg.src_addr_width)
        burst = cfg.dst_maxburst if to_dev else cfg.src_maxburst
        if addr:
            pch.fifo_addr = addr
        if width:
            pch.burst_sz = (width & -width).bit_length() - 1
        pch.burst_len = min(max(burst, 1), MAX_BURST)

    def _slave_desc(self, pch: Pl330Chan, addr: int, length: int,
                    direction: TransferDirection) -> Pl330Desc:
        desc = self.get_desc(pch)
        to_dev = direction == TransferDirection.MEM_TO_DEV
        desc.src_inc, desc.dst_inc = to_dev, not to_dev
        desc.src, desc.dst = (addr, pch.fifo_addr) if to_dev else (pch.fifo_addr, addr)
        desc.rqtype = direction
        desc.brst_size, desc.brst_len = pch.burst_sz, pch.burst_len
        desc.bytes_requested = length
        return desc

    def prep_dma_cyclic(self, chan: DmaChan, buf_addr: int, buf_len: int, period_len: int,
                        direction: TransferDirection, flags: PrepFlags) -> Pl330Desc | None:
        """``pl330_prep_dma_cyclic``: a descriptor a period, chained; the last is
        returned."""
        pch = to_pchan(chan)
        if period_len <= 0 or buf_len % period_len or not is_slave_direction(direction):
            return None
        self._config_write(pch, direction)
        chain = [self._slave_desc(pch, buf_addr + i * period_len, period_len, direction)
                 for i in range(buf_len // period_len)]
        last = chain[-1]
        last.chain = chain
        last.flags = PrepFlags(flags)
        pch.cyclic = True
        return last

    def prep_slave_sg(self, chan: DmaChan, sgl: list[tuple[int, int]],
                      direction: TransferDirection, flags: PrepFlags) -> Pl330Desc | None:
        pch = to_pchan(chan)
        if not sgl or not is_slave_direction(direction):
            return None
        self._config_write(pch, direction)
        chain = [self._slave_desc(pch, addr, n, direction) for addr, n in sgl]
        last = chain[-1]
        last.chain = chain
        last.flags = PrepFlags(flags)
        return last

    def prep_dma_memcpy(self, chan: DmaChan, dst: int, src: int, length: int,
                        flags: PrepFlags) -> Pl330Desc | None:
        """``pl330_prep_dma_memcpy``: the widest burst that src, dst and len allow."""
        pch = to_pchan(chan)
        if length <= 0:
            return None
        desc = self.get_desc(pch)
        desc.src, desc.dst, desc.bytes_requested = src, dst, length
        desc.src_inc = desc.dst_inc = True
        desc.rqtype = TransferDirection.MEM_TO_MEM
        burst = self.data_bus_width // 8
        while (src | dst | length) & (burst - 1):
            burst //= 2
        desc.brst_size = burst.bit_length() - 1
        desc.brst_len = min(self.data_bus_width // 8 * (self.data_buf_dep // self.num_chan)
                            >> desc.brst_size, MAX_BURST)
        if burst * 8 < self.data_bus_width:
            desc.brst_len = 1
        desc.flags = PrepFlags(flags)
        return desc

    def issue_pending(self, chan: DmaChan) -> None:
        pch = to_pchan(chan)
        with pch.lock:
            pch.work_list.extend(pch.submitted_list)
            pch.submitted_list.clear()
        self.tasklet(pch)

    def _xferred(self, pch: Pl330Chan, desc: Pl330Desc) -> int:
        """``pl330_get_current_xferred_count``: from SAR (or DAR) of the thread."""
        assert pch.thread is not None
        reg = hw.SAR if desc.src_inc else hw.DAR
        val = self.readl(hw.CH_BASE + hw.CH_STRIDE * pch.thread.id + reg)
        if not val:
            return 0
        return val - (desc.src if desc.src_inc else desc.dst)

    def tx_status(self, chan: DmaChan, cookie: int, state: TxState | None) -> DmaStatus:
        """``pl330_tx_status``: the residue, walking the work list to ``cookie``."""
        pch = to_pchan(chan)
        ret = dma_cookie_status(chan, cookie, state)
        if pch.failed and ret != DmaStatus.COMPLETE:
            ret = DmaStatus.ERROR
        if state is None or ret == DmaStatus.COMPLETE or pch.thread is None:
            dma_set_residue(state, 0)
            return ret
        residual = 0
        with pch.lock, self.lock:
            thrd = pch.thread
            running = thrd.req_desc[thrd.req_running] if thrd.req_running != -1 else None
            last_enq = thrd.req_desc[thrd.lstenq]
            for desc in pch.work_list:
                if desc.status == DescStatus.DONE:
                    done = desc.bytes_requested
                elif running is not None and desc is running:
                    done = self._xferred(pch, desc)
                elif desc.status == DescStatus.BUSY:
                    done = 0 if desc is last_enq else desc.bytes_requested
                else:
                    done = 0
                residual += desc.bytes_requested - done
                if desc.cookie == cookie:
                    break
                if desc.last:
                    residual = 0
        dma_set_residue(state, residual)
        return ret

    def pause(self, chan: DmaChan) -> None:
        """``pl330_pause``: the thread is stopped (it cannot be resumed: mainline has
        no device_resume, so the PCM gets no PAUSE)."""
        pch = to_pchan(chan)
        with pch.lock, self.lock:
            if pch.thread is not None:
                self._stop(pch.thread)

    def terminate_all(self, chan: DmaChan) -> None:
        """``pl330_terminate_all``: stop the thread, every descriptor back to the pool."""
        pch = to_pchan(chan)
        with pch.lock:
            if pch.thread is not None:
                with self.lock:
                    self._stop(pch.thread)
                    pch.thread.req_desc = [None, None]
                    pch.thread.req_running = -1
            for desc in pch.submitted_list + pch.work_list:
                dma_cookie_complete(desc)
            self.giveback(pch.submitted_list + pch.work_list + pch.completed_list)
            pch.submitted_list, pch.work_list, pch.completed_list = [], [], []
            pch.failed = False

    def xlate(self, request_line: int) -> DmaChan | None:
        """``of_dma_pl330_xlate``: the channel of a request line."""
        if request_line >= len(self.ddma.channels):
            return None
        return self.ddma.channels[request_line]


def probe(pdev: PlatformDevice) -> None:
    drv = Pl330Dmac(pdev)
    pdev.drvdata = drv
    pdev.soc.irqc.request_irq(drv.irq, drv.irq_handler, pdev.name)
    async_device_register(drv.ddma)
    of_dma_controller_register(pdev.name, drv.xlate, drv.ddma)
    log.info("%s: Loaded driver for PL330 DMAC-%x", pdev.name, drv.periph_id)


def remove(pdev: PlatformDevice) -> None:
    drv: Pl330Dmac = pdev.drvdata
    of_dma_controller_free(pdev.name)
    async_device_unregister(drv.ddma)
    for chan in drv.ddma.channels:
        pch = to_pchan(chan)
        if pch.thread is not None:
            drv.terminate_all(chan)
            drv.free_chan_resources(chan)
    pdev.soc.irqc.free_irq(drv.irq)
    dma_free_coherent(pdev, drv.num_chan * drv.mcbufsz, drv.mcode_bus)
    dma_debug_device_removed(pdev)


DRIVER = PlatformDriver(compatible=("arm,pl330",), probe=probe, remove=remove,
                        name="dma-pl330")
