"""Provider driver for the PL080-style controller, on virt-dma.

Counterpart: drivers/dma/amba-pl08x.c. Two DMA devices share the physical channels: a
memcpy device with one virtual channel per physical channel, and a slave device (SLAVE,
CYCLIC; PRIVATE only while a channel is taken) with one virtual channel per request
line. A virtual channel borrows a physical channel when it has work; with none free it
WAITs, and a freed physical channel goes to the channel waiting longest.

The driver only writes registers and LLIs: LLIs live in coherent memory, the first one
is loaded into the channel, the controller fetches the rest. A cyclic ring has the TC
interrupt in every LLI, so a period longer than one LLI (4095 beats) signals each LLI.

Departs from mainline: unaligned buffers are refused, bus errors are reported, a WAITING
channel is held by pause, the residue stops where a ring wraps, the memcpy device also
has MEMSET (docs/departures.md).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from typing import Final, cast

import numpy as np

from dma.cookie import dma_cookie_status, dma_set_residue
from dma.core import (
    DmaChan,
    DmaDevice,
    async_device_register,
    async_device_unregister,
    of_dma_controller_free,
    of_dma_controller_register,
)
from dma.dmaengine import (
    Cap,
    DmaStatus,
    DmaTxResult,
    PrepFlags,
    ResidueGranularity,
    SlaveConfig,
    TransferDirection,
    TxState,
    is_slave_direction,
)
from dma.dmapool import dma_pool_alloc, dma_pool_create, dma_pool_destroy, dma_pool_free
from dma.mapping import dma_debug_device_removed
from dma.virt_dma import (
    VirtChan,
    VirtDesc,
    vchan_cookie_complete,
    vchan_cyclic_callback,
    vchan_dma_desc_free_list,
    vchan_find_desc,
    vchan_free_chan_resources,
    vchan_get_all_descriptors,
    vchan_issue_pending,
    vchan_next_desc,
    vchan_synchronize,
    vchan_terminate_vdesc,
    vchan_tx_prep,
)
from soc import pl080 as hw
from soc.clock import jiffies
from soc.platform import (
    PlatformDevice,
    PlatformDriver,
    platform_get_irq,
    platform_get_resource,
)

# DmaStatus's members as module constants: compiled code loads them without a lookup
_COMPLETE: Final = DmaStatus.COMPLETE
_ERROR: Final = DmaStatus.ERROR
_PAUSED: Final = DmaStatus.PAUSED

log = logging.getLogger(__name__)

MAX_TSIZE = hw.CTL_TSIZE_MASK
WIDTH_CODE = {1: 0, 2: 1, 4: 2}
LLI_BYTES: Final = 16
MAX_NUM_TSFR_LLIS: Final = 512  # LLIs in one transfer's block of the pool
LLI_BLOCK: Final = MAX_NUM_TSFR_LLIS * LLI_BYTES
PL08X_ALIGN: Final = 8


class ChanState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"


def burst_code(maxburst: int) -> int:
    """The largest PL080 burst not above ``maxburst`` (``pl08x_burst``)."""
    code = 0
    for i, size in enumerate(hw.BURST_SIZES):
        if size <= max(maxburst, 1):
            code = i
    return code


class Pl08xTxd(VirtDesc):
    """``struct pl08x_txd``: the LLIs of one transfer, in coherent memory."""

    def __init__(self, chan: Pl08xChan, flags: PrepFlags, cyclic: bool) -> None:
        super().__init__(chan, flags)
        self.cyclic = cyclic
        self.direction = TransferDirection.MEM_TO_MEM
        self.lli_bus = 0
        self.lli_cpu: np.ndarray | None = None
        self.lli_lens: list[int] = []
        self.lli_tail: list[int] = []  # bytes from each LLI to the chain's end
        self.ccfg = 0

    @property
    def total(self) -> int:
        return self.lli_tail[0] if self.lli_tail else 0

    def lli_addr(self, i: int) -> int:
        return self.lli_bus + i * LLI_BYTES


class Pl08xChan(VirtChan):
    """``struct pl08x_dma_chan``: one virtual channel."""

    def __init__(self, drv: Pl08x, device: DmaDevice, name: str, signal: int) -> None:
        super().__init__(device, drv.free_txd, drv.pdev.soc.cpu, drv.pdev.soc.clock.spinlock)
        self.drv = drv
        self.chan_name = name
        self.signal = signal
        self.cfg = SlaveConfig()
        self.phychan: int | None = None
        self.at: Pl08xTxd | None = None
        self.state = ChanState.IDLE
        self.waiting_at = 0  # jiffies when it began WAITING for a physical channel
        self.error_cookie = 0


def to_pl08x_chan(chan: DmaChan) -> Pl08xChan:
    """``to_pl08x_chan``: the virtual channel a ``dma_chan`` is embedded in."""
    return cast(Pl08xChan, chan)


def to_pl08x_txd(vd: VirtDesc) -> Pl08xTxd:
    """``to_pl08x_txd``: the transfer a virt-dma descriptor is embedded in."""
    return cast(Pl08xTxd, vd)


class Pl08x:
    """``struct pl08x_driver_data``."""

    def __init__(self, pdev: PlatformDevice) -> None:
        self.pdev = pdev
        self.bus = pdev.soc.bus
        self.base = platform_get_resource(pdev)[0]  # the controller's registers
        self.irq = platform_get_irq(pdev, 0)
        props = pdev.node.props
        self.nr_phy = props.get("dma-channels", 8)
        self.phy_serving: list[Pl08xChan | None] = [None] * self.nr_phy
        # Bus addresses of each physical channel's LLI and CONTROL registers, worked out
        # once, as the kernel keeps ``ch->reg_lli`` and ``ch->reg_control``.
        self.reg_lli = [self.base + self.ch_reg(p, hw.CH_LLI) for p in range(self.nr_phy)]
        self.reg_control = [self.base + self.ch_reg(p, hw.CH_CONTROL)
                            for p in range(self.nr_phy)]
        widths = (1 << 1) | (1 << 2) | (1 << 4)
        self.pool = dma_pool_create("pl08xdmac", pdev, LLI_BLOCK, PL08X_ALIGN)

        self.memcpy = self._dma_device(Cap.MEMCPY | Cap.MEMSET, widths)
        self.memcpy.directions = 1 << TransferDirection.MEM_TO_MEM
        self.memcpy.device_prep_dma_memcpy = self.prep_dma_memcpy
        self.memcpy.device_prep_dma_memset = self.prep_dma_memset
        for i in range(self.nr_phy):  # as many memcpy channels as physical channels
            Pl08xChan(self, self.memcpy, f"memcpy{i}", -1)

        self.slave = self._dma_device(Cap.SLAVE | Cap.CYCLIC, widths)
        self.slave.directions = (1 << TransferDirection.MEM_TO_DEV) | (
            1 << TransferDirection.DEV_TO_MEM
        )
        self.slave.device_prep_slave_sg = self.prep_slave_sg
        self.slave.device_prep_dma_cyclic = self.prep_dma_cyclic
        self.slave.device_config = self.config
        for line in range(props.get("dma-requests", 16)):
            Pl08xChan(self, self.slave, f"periph{line}", line)

    def _dma_device(self, caps: Cap, widths: int) -> DmaDevice:
        return DmaDevice(
            dev=self.pdev,
            cap_mask=caps,
            src_addr_widths=widths,
            dst_addr_widths=widths,
            min_burst=1,
            max_burst=hw.BURST_SIZES[-1],
            residue_granularity=ResidueGranularity.SEGMENT,
            descriptor_reuse=bool(self.pdev.node.props.get("descriptor-reuse", True)),
            device_alloc_chan_resources=lambda chan: 0,
            device_free_chan_resources=vchan_free_chan_resources,
            device_pause=self.pause,
            device_resume=self.resume,
            device_terminate_all=self.terminate_all,
            device_synchronize=vchan_synchronize,
            device_tx_status=self.tx_status,
            device_issue_pending=self.issue_pending,
        )

    # -- register access --

    def readl(self, off: int) -> int:
        return self.bus.read32(self.base + off)

    def writel(self, off: int, value: int) -> None:
        self.bus.write32(self.base + off, value)

    def ch_reg(self, phy: int, reg: int) -> int:
        return hw.CH_BASE + phy * hw.CH_STRIDE + reg

    # -- descriptors and LLIs --

    def _new_txd(
        self, plchan: Pl08xChan, flags: PrepFlags, cyclic: bool, nr_llis: int, extra: int = 0
    ) -> Pl08xTxd | None:
        """A transfer with its LLI block from the pool; None (prep fails) if it needs
        more than MAX_NUM_TSFR_LLIS LLIs or the pool has no memory left."""
        if nr_llis * LLI_BYTES + extra > LLI_BLOCK:
            log.error("%s: %d LLIs: need to increase MAX_NUM_TSFR_LLIS from %d",
                      self.pdev.name, nr_llis, MAX_NUM_TSFR_LLIS)
            return None
        block = dma_pool_alloc(self.pool)
        if block is None:
            return None  # the LLI pool is exhausted: prep fails, as on ENOMEM
        txd = Pl08xTxd(plchan, flags, cyclic)
        txd.lli_cpu, txd.lli_bus = block
        return txd

    def free_txd(self, vd: VirtDesc) -> None:
        txd = to_pl08x_txd(vd)
        if txd.lli_cpu is not None:
            dma_pool_free(self.pool, txd.lli_bus)
            txd.lli_cpu = None

    @staticmethod
    def _split(length: int, width: int) -> list[int]:
        """Cut one segment into LLIs of at most MAX_TSIZE beats."""
        per = MAX_TSIZE * width
        return [min(per, length - off) for off in range(0, length, per)]

    def _fill_llis(
        self,
        txd: Pl08xTxd,
        segments: list[tuple[int, int, int]],
        cctl: int,
        width: int,
        src_incr: bool,
        dst_incr: bool,
        irq_each_lli: bool,
    ) -> None:
        """``pl08x_fill_llis_for_desc``: the LLI chain for ``segments`` of (src, dst,
        length); the TC interrupt on the last LLI, or on every one (a cyclic ring)."""
        entries = []
        for src, dst, length in segments:
            off = 0
            for piece in self._split(length, width):
                entries.append((src + (off if src_incr else 0), dst + (off if dst_incr else 0),
                                piece))
                off += piece
        assert txd.lli_cpu is not None
        words = txd.lli_cpu[: len(entries) * LLI_BYTES].view("<u4").reshape(-1, 4)
        for i, (src, dst, piece) in enumerate(entries):
            last = i == len(entries) - 1
            ctl = cctl | (piece // width)
            if irq_each_lli or last:
                ctl |= hw.CTL_TC_IRQ
            if last:
                nxt = txd.lli_bus if txd.cyclic else 0
            else:
                nxt = txd.lli_addr(i + 1)
            words[i] = (src, dst, nxt, ctl)
            txd.lli_lens.append(piece)
        left, tail = 0, []
        for piece in reversed(txd.lli_lens):
            left += piece
            tail.append(left)
        txd.lli_tail = tail[::-1]

    @staticmethod
    def _cctl(width: int, burst: int, src_incr: bool, dst_incr: bool) -> int:
        code = WIDTH_CODE[width]
        cctl = (code << hw.CTL_SW_SHIFT) | (code << hw.CTL_DW_SHIFT)
        cctl |= (burst << hw.CTL_SB_SHIFT) | (burst << hw.CTL_DB_SHIFT)
        if src_incr:
            cctl |= hw.CTL_SI
        if dst_incr:
            cctl |= hw.CTL_DI
        return cctl

    # -- prep --

    def prep_dma_memcpy(
        self, chan: DmaChan, dst: int, src: int, length: int, flags: PrepFlags
    ) -> Pl08xTxd | None:
        if length <= 0:
            return None
        width = next(w for w in (4, 2, 1) if not (src | dst | length) % w)
        plchan = to_pl08x_chan(chan)
        nr = len(self._split(length, width))
        txd = self._new_txd(plchan, flags, False, nr)
        if txd is None:
            return None
        cctl = self._cctl(width, burst_code(256), True, True)
        self._fill_llis(txd, [(src, dst, length)], cctl, width, True, True, False)
        txd.ccfg = hw.FLOW_M2M << hw.CFG_FLOW_SHIFT
        return vchan_tx_prep(plchan, txd)

    def prep_dma_memset(
        self, chan: DmaChan, dst: int, value: int, length: int, flags: PrepFlags
    ) -> Pl08xTxd | None:
        if length <= 0:
            return None
        width = next(w for w in (4, 2, 1) if not (dst | length) % w)
        plchan = to_pl08x_chan(chan)
        nr = len(self._split(length, width))
        txd = self._new_txd(plchan, flags, False, nr, extra=4)
        if txd is None:
            return None
        const_off = nr * LLI_BYTES  # the constant word lives after the LLIs
        assert txd.lli_cpu is not None
        txd.lli_cpu[const_off : const_off + 4] = value & 0xFF
        src = txd.lli_bus + const_off
        cctl = self._cctl(width, burst_code(256), False, True)
        self._fill_llis(txd, [(src, dst, length)], cctl, width, False, True, False)
        txd.ccfg = hw.FLOW_M2M << hw.CFG_FLOW_SHIFT
        return vchan_tx_prep(plchan, txd)

    def _slave_setup(
        self, plchan: Pl08xChan, direction: TransferDirection
    ) -> tuple[int, int, int] | None:
        """(device address, width, burst code) from the slave config, or None."""
        if not is_slave_direction(direction):
            return None
        cfg = plchan.cfg
        if direction == TransferDirection.MEM_TO_DEV:
            addr, width, burst = cfg.dst_addr, int(cfg.dst_addr_width), cfg.dst_maxburst
        else:
            addr, width, burst = cfg.src_addr, int(cfg.src_addr_width), cfg.src_maxburst
        if width not in WIDTH_CODE or addr == 0:
            return None
        return addr, width, burst_code(burst)

    def _slave_txd(
        self,
        plchan: Pl08xChan,
        bufs: list[tuple[int, int]],
        direction: TransferDirection,
        flags: PrepFlags,
        cyclic: bool,
    ) -> Pl08xTxd | None:
        setup = self._slave_setup(plchan, direction)
        if setup is None:
            return None
        dev_addr, width, burst = setup
        if any(length <= 0 or (addr | length) % width for addr, length in bufs):
            return None
        to_dev = direction == TransferDirection.MEM_TO_DEV
        segs = [(a, dev_addr, n) if to_dev else (dev_addr, a, n) for a, n in bufs]
        nr = sum(len(self._split(n, width)) for _, n in bufs)
        txd = self._new_txd(plchan, flags, cyclic, nr)
        if txd is None:
            return None
        txd.direction = direction
        cctl = self._cctl(width, burst, to_dev, not to_dev)
        self._fill_llis(txd, segs, cctl, width, to_dev, not to_dev, cyclic)
        if to_dev:
            txd.ccfg = (hw.FLOW_M2P << hw.CFG_FLOW_SHIFT) | (
                plchan.signal << hw.CFG_DST_PERIPH_SHIFT
            )
        else:
            txd.ccfg = (hw.FLOW_P2M << hw.CFG_FLOW_SHIFT) | (
                plchan.signal << hw.CFG_SRC_PERIPH_SHIFT
            )
        return vchan_tx_prep(plchan, txd)

    def prep_slave_sg(
        self,
        chan: DmaChan,
        sgl: list[tuple[int, int]],
        direction: TransferDirection,
        flags: PrepFlags,
    ) -> Pl08xTxd | None:
        if not sgl:
            return None
        return self._slave_txd(to_pl08x_chan(chan), list(sgl), direction, flags, False)

    def prep_dma_cyclic(
        self,
        chan: DmaChan,
        buf_addr: int,
        buf_len: int,
        period_len: int,
        direction: TransferDirection,
        flags: PrepFlags,
    ) -> Pl08xTxd | None:
        if buf_len <= 0 or period_len <= 0 or buf_len % period_len:
            return None
        periods = [(buf_addr + off, period_len) for off in range(0, buf_len, period_len)]
        return self._slave_txd(to_pl08x_chan(chan), periods, direction, flags, True)

    def config(self, chan: DmaChan, cfg: SlaveConfig) -> None:
        plchan = to_pl08x_chan(chan)
        plchan.cfg = dataclasses.replace(cfg)  # a copy, as the driver keeps its own

    # -- physical channels --

    def _start_next_txd(self, plchan: Pl08xChan) -> None:
        """``pl08x_start_next_txd``: load the first LLI into the registers and enable."""
        vd = vchan_next_desc(plchan)
        assert vd is not None and plchan.phychan is not None
        plchan.desc_issued.remove(vd)
        txd = to_pl08x_txd(vd)
        plchan.at = txd
        phy = plchan.phychan
        assert txd.lli_cpu is not None
        src, dst, nxt, ctl = (int(w) for w in txd.lli_cpu[:16].view("<u4"))
        self.writel(self.ch_reg(phy, hw.CH_SRC), src)
        self.writel(self.ch_reg(phy, hw.CH_DST), dst)
        self.writel(self.ch_reg(phy, hw.CH_LLI), nxt)
        self.writel(self.ch_reg(phy, hw.CH_CONTROL), ctl)
        cfg = txd.ccfg | hw.CFG_ITC | hw.CFG_IE | hw.CFG_E
        self.writel(self.ch_reg(phy, hw.CH_CONFIG), cfg)
        plchan.state = ChanState.RUNNING

    def _phy_alloc_and_start(self, plchan: Pl08xChan) -> None:
        free = [i for i, s in enumerate(self.phy_serving) if s is None]
        if not free:
            plchan.state = ChanState.WAITING
            plchan.waiting_at = jiffies(self.pdev.soc.clock.now_ns)
            return
        plchan.phychan = free[0]
        self.phy_serving[free[0]] = plchan
        self._start_next_txd(plchan)

    def _phy_stop(self, phy: int) -> None:
        cfg = self.readl(self.ch_reg(phy, hw.CH_CONFIG))
        self.writel(self.ch_reg(phy, hw.CH_CONFIG), cfg & ~(hw.CFG_E | hw.CFG_HALT))
        self.writel(hw.INT_TC_CLEAR, 1 << phy)
        self.writel(hw.INT_ERR_CLEAR, 1 << phy)

    def _phy_free(self, plchan: Pl08xChan) -> None:
        """``pl08x_phy_free``: stop the physical channel and hand it to the virtual channel
        WAITING longest (``waiting_at`` in jiffies; of equals, the last in list order), a
        memcpy channel before any slave channel."""
        phy = plchan.phychan
        if phy is None:
            return
        self._phy_stop(phy)
        plchan.phychan = None
        self.phy_serving[phy] = None
        while True:
            nxt = self._longest_waiting(self.memcpy.channels) or self._longest_waiting(
                self.slave.channels)
            if nxt is None:
                return
            with nxt.lock:  # the state again, under its lock
                if nxt.state == ChanState.WAITING and vchan_next_desc(nxt) is not None:
                    nxt.phychan = phy
                    self.phy_serving[phy] = nxt
                    self._start_next_txd(nxt)
                    return
                nxt.state = ChanState.IDLE  # nothing left to start: look again

    def _longest_waiting(self, chans: list[DmaChan]) -> Pl08xChan | None:
        best, waiting_at = None, jiffies(self.pdev.soc.clock.now_ns)
        for chan in chans:
            p = to_pl08x_chan(chan)
            if p.state == ChanState.WAITING and p.waiting_at <= waiting_at:
                best, waiting_at = p, p.waiting_at
        return best

    # -- device ops --

    def issue_pending(self, chan: DmaChan) -> None:
        plchan = to_pl08x_chan(chan)
        with plchan.lock:
            if vchan_issue_pending(plchan) and plchan.at is None and not plchan.error_cookie:
                if plchan.phychan is None:
                    if plchan.state != ChanState.PAUSED:  # held until resumed
                        self._phy_alloc_and_start(plchan)
                else:
                    self._start_next_txd(plchan)

    def _getbytes(self, plchan: Pl08xChan, txd: Pl08xTxd) -> int:
        """``pl08x_getbytes_chan``: residue of the running descriptor, from registers.

        As the kernel does, it reads the next-LLI register, then the transfer count of the
        LLI running now. On silicon the two reads are nanoseconds apart, and the channel
        finishes an LLI between them only by rare chance. In the model the card
        thread moves the hardware a whole callback at a time (milliseconds under load),
        so the reads hold the hardware lock: they see one instant, as on silicon.
        Without it the position came out a period off and the PCM took it for a wrap.

        Stated departure, in a cyclic ring's last LLI: mainline walks the LLIs from the
        one the next-LLI register names, adding each, until one whose ``next`` does not
        point forward. There the register names the first LLI, so the walk adds the
        whole ring to the count: the residue exceeds the buffer, and
        ``snd_dmaengine_pcm_pointer`` reads position 0 for that period (a period early).
        The model stops where the ring wraps, so the position is exact in every period.
        """
        phy = plchan.phychan
        if phy is None:
            return txd.total
        bus = self.bus
        with bus.lock:
            nxt = bus.read32(self.reg_lli[phy]) & ~3
            ctl = bus.read32(self.reg_control[phy])
        width = hw.width_of((ctl >> hw.CTL_SW_SHIFT) & 7)
        residue = (ctl & hw.CTL_TSIZE_MASK) * width
        if nxt:
            first = (nxt - txd.lli_bus) // LLI_BYTES
            if not (0 <= first < len(txd.lli_lens)):
                return txd.total
            if first != 0 or not txd.cyclic:  # a cyclic ring stops where it wraps
                residue += txd.lli_tail[first]
        return residue

    def tx_status(self, chan: DmaChan, cookie: int, state: TxState | None) -> DmaStatus:
        plchan = to_pl08x_chan(chan)
        with plchan.lock:
            if plchan.error_cookie and cookie == plchan.error_cookie:
                dma_cookie_status(plchan, cookie, state)
                return _ERROR
            ret = dma_cookie_status(plchan, cookie, state)
            if ret == _COMPLETE:
                return ret
            vd = vchan_find_desc(plchan, cookie)
            if vd is not None:  # issued, not started: all of it is left
                residue = to_pl08x_txd(vd).total
            elif plchan.at is not None:
                # as pl08x_getbytes_chan: what the running descriptor has left, whichever
                # cookie was asked (a submitted, unissued one reads the running one's)
                residue = self._getbytes(plchan, plchan.at)
            else:
                residue = 0
            dma_set_residue(state, residue)
            if plchan.state == ChanState.PAUSED:
                ret = _PAUSED
        return ret

    def pause(self, chan: DmaChan) -> None:
        """``pl08x_pause``: set HALT and wait until the channel is no longer ACTIVE; one
        that stays ACTIVE is logged, and the pause still succeeds."""
        plchan = to_pl08x_chan(chan)
        with plchan.lock:
            if plchan.at is None and plchan.state != ChanState.WAITING:
                return
            if plchan.phychan is not None:
                reg = self.ch_reg(plchan.phychan, hw.CH_CONFIG)
                self.writel(reg, self.readl(reg) | hw.CFG_HALT)
                if self.readl(reg) & hw.CFG_ACTIVE:  # the model's FIFO drains at once
                    log.error("pl08x: channel%u timeout waiting for pause", plchan.phychan)
            plchan.state = ChanState.PAUSED

    def resume(self, chan: DmaChan) -> None:
        plchan = to_pl08x_chan(chan)
        with plchan.lock:
            if plchan.state != ChanState.PAUSED:
                return
            if plchan.phychan is not None:
                reg = self.ch_reg(plchan.phychan, hw.CH_CONFIG)
                self.writel(reg, self.readl(reg) & ~hw.CFG_HALT)
                plchan.state = ChanState.RUNNING
            else:  # paused while WAITING: a physical channel may have freed meanwhile
                self._phy_alloc_and_start(plchan)

    def terminate_all(self, chan: DmaChan) -> None:
        plchan = to_pl08x_chan(chan)
        with plchan.lock:
            head = vchan_get_all_descriptors(plchan)
            at = plchan.at
            plchan.at = None
            plchan.error_cookie = 0
            if plchan.phychan is not None:
                self._phy_free(plchan)
            plchan.state = ChanState.IDLE
            if at is not None:
                vchan_terminate_vdesc(at)
        vchan_dma_desc_free_list(plchan, head)

    # -- interrupt --

    def irq_handler(self, irq: int) -> None:
        """``pl08x_irq``: the top half. Read, clear, complete or signal the period."""
        err = self.readl(hw.INT_ERR_STATUS)
        tc = self.readl(hw.INT_TC_STATUS)
        if err:
            self.writel(hw.INT_ERR_CLEAR, err)
        if tc:
            self.writel(hw.INT_TC_CLEAR, tc)
        for phy in range(self.nr_phy):
            if not (err | tc) & (1 << phy):
                continue
            plchan = self.phy_serving[phy]
            if plchan is None or plchan.at is None:
                continue
            with plchan.lock:
                txd = plchan.at
                if err & (1 << phy):
                    self._error(plchan, txd)
                elif txd.cyclic:
                    vchan_cyclic_callback(txd)
                else:
                    plchan.at = None
                    vchan_cookie_complete(txd)
                    if vchan_next_desc(plchan) is not None:
                        self._start_next_txd(plchan)
                    else:
                        plchan.state = ChanState.IDLE
                        self._phy_free(plchan)

    def _error(self, plchan: Pl08xChan, txd: Pl08xTxd) -> None:
        failed = (
            DmaTxResult.WRITE_FAILED
            if txd.direction == TransferDirection.DEV_TO_MEM
            else DmaTxResult.READ_FAILED
        )
        txd.tx_result.result = failed
        txd.tx_result.residue = self._getbytes(plchan, txd)
        plchan.error_cookie = txd.cookie
        if txd.cyclic:
            vchan_cyclic_callback(txd)
        else:  # run its callback, but leave the cookie incomplete: tx_status says ERROR
            plchan.at = None
            plchan.desc_completed.append(txd)
            plchan.task.schedule()
        plchan.state = ChanState.IDLE

    # -- xlate --

    def xlate(self, request_line: int) -> DmaChan | None:
        """``pl08x_of_xlate``: a request line to its virtual channel."""
        for chan in self.slave.channels:
            if to_pl08x_chan(chan).signal == request_line:
                return chan
        return None


def probe(pdev: PlatformDevice) -> None:
    drv = Pl08x(pdev)
    pdev.drvdata = drv
    drv.writel(hw.CONFIG, hw.CONFIG_E)
    drv.writel(hw.INT_TC_CLEAR, 0xFF)
    drv.writel(hw.INT_ERR_CLEAR, 0xFF)
    pdev.soc.irqc.request_irq(drv.irq, drv.irq_handler, pdev.name)
    async_device_register(drv.memcpy)
    async_device_register(drv.slave)
    of_dma_controller_register(pdev.name, drv.xlate, drv.slave)


def remove(pdev: PlatformDevice) -> None:
    drv: Pl08x = pdev.drvdata
    of_dma_controller_free(pdev.name)
    for device in (drv.memcpy, drv.slave):
        for chan in device.channels:
            drv.terminate_all(chan)
            vchan_synchronize(to_pl08x_chan(chan))
            vchan_free_chan_resources(to_pl08x_chan(chan))
        async_device_unregister(device)
    pdev.soc.irqc.free_irq(drv.irq)
    drv.writel(hw.CONFIG, 0)
    dma_pool_destroy(drv.pool)
    dma_debug_device_removed(pdev)


DRIVER = PlatformDriver(compatible=("arm,pl080",), probe=probe, remove=remove,
                        name="pl08xdmac")
