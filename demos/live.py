"""`--live`: the ring, the pointers, the I2S FIFO and the counters, redrawn as a stream runs.

Counterpart: none in the kernel; what ``/proc/asound/card0/pcm0p/sub0/status``, the
DMA engine's debugfs and ``/proc/interrupts`` would show, read at about 20 Hz. The DMA's
own position is read as the PCM reads it: through the platform's ``pointer`` (the
residue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.text import Text

from dma.consumer import tx_status
from soc.board import DMAC_IRQ

WIDTH = 64  # cells the ring is drawn in


@dataclass
class Snapshot:
    """What the view shows, read at one instant of the hardware clock."""

    t_ns: int
    buffer_size: int
    period_size: int
    hw_ptr: int
    appl_ptr: int
    dma_pos: int  # frames into the ring, from the residue
    silence_start: int  # the silence filled: where it starts, how many frames
    silence_filled: int
    fifo_level: int  # I2S TX FIFO, frames
    fifo_depth: int
    fifo_trigger: int  # the watermark: at or below it the FIFO requests DMA
    irqs: int
    tasklet_runs: int
    xruns: int
    recoveries: int
    pcm_state: str
    dma_chan: str
    dma_status: str
    driver: str
    name: str = ""
    done: int = 0  # frames of the file written, of ``total``
    total: int = 0
    rate: int = 48000


def snapshot(sess: Any, pcm: Any, xruns: int, recoveries: int, name: str = "",
             done: int = 0, total: int = 0) -> Snapshot:
    """Read the view's state from a session and its open PCM (the writer's thread)."""
    ss = pcm.substream
    rt = ss.runtime
    prtd = ss.private_data
    chan = prtd.dma_chan
    status, _ = tx_status(chan, prtd.cookie) if prtd.cookie > 0 else (None, None)
    soc = sess.board.soc
    i2s = soc.hw["i2s0"]
    fb = i2s._tx_fb or 1
    task = getattr(chan, "task", None)
    drv = getattr(chan.device.dev.driver, "name", "?")
    return Snapshot(
        t_ns=sess.clock.now_ns, buffer_size=rt.buffer_size, period_size=rt.period_size,
        hw_ptr=rt.hw_ptr, appl_ptr=rt.appl_ptr,
        dma_pos=ss.ops.pointer(ss) if rt.state.name in ("RUNNING", "DRAINING") else
        rt.hw_ptr % rt.buffer_size,
        silence_start=rt.silence_start, silence_filled=rt.silence_filled,
        fifo_level=i2s.tx.level // fb, fifo_depth=i2s.fifo_depth,
        fifo_trigger=i2s._tx_trig, irqs=soc.irqc.count[DMAC_IRQ],
        tasklet_runs=task.runs if task is not None else 0, xruns=xruns,
        recoveries=recoveries, pcm_state=rt.state.name, dma_chan=chan.name,
        dma_status=status.name if status is not None else "IDLE", driver=drv, name=name,
        done=done, total=total, rate=rt.rate)


def _cell(frame: int, buffer: int) -> int:
    return frame % buffer * WIDTH // buffer


def ring_cells(s: Snapshot) -> str:
    """The ring as WIDTH cells: written and not yet played, silence filled, free."""
    cells = ["·"] * WIDTH
    for f in range(s.hw_ptr, s.appl_ptr, max(s.buffer_size // WIDTH, 1)):
        cells[_cell(f, s.buffer_size)] = "█"
    if s.silence_filled:
        for f in range(s.silence_start, s.silence_start + s.silence_filled,
                       max(s.buffer_size // WIDTH, 1)):
            if f >= s.appl_ptr:
                cells[_cell(f, s.buffer_size)] = "░"
    return "".join(cells)


def markers(s: Snapshot) -> str:
    """The pointers under the ring: H hw_ptr, D the DMA's position, A appl_ptr."""
    row = [" "] * WIDTH
    for ch, frame in (("A", s.appl_ptr), ("D", s.dma_pos), ("H", s.hw_ptr)):
        row[_cell(frame, s.buffer_size)] = ch
    return "".join(row)


def render(s: Snapshot) -> Group:
    periods = s.buffer_size // max(s.period_size, 1)
    per_cells = WIDTH // max(periods, 1)
    ring = ring_cells(s)
    if per_cells:
        ring = "|".join(ring[i:i + per_cells] for i in range(0, WIDTH, per_cells))
        marks = " ".join(markers(s)[i:i + per_cells] for i in range(0, WIDTH, per_cells))
    else:
        marks = markers(s)
    fifo = "▇" * s.fifo_level + "·" * max(s.fifo_depth - s.fifo_level, 0)
    secs = s.t_ns / 1e9
    head = f"{s.name}  " if s.name else ""
    total = f" / {s.total / s.rate:.2f} s" if s.total else ""
    coalesced = max(s.irqs - s.tasklet_runs, 0)
    return Group(
        Text(f"{head}{s.done / s.rate:.2f} s{total}   hardware clock {secs:.3f} s"),
        Text(f"ring: {periods} periods of {s.period_size} frames   "
             f"hw_ptr {s.hw_ptr}  appl_ptr {s.appl_ptr}  "
             f"queued {s.appl_ptr - s.hw_ptr} frames"),
        Text(f"|{ring}|"),
        Text(f" {marks}   H hw_ptr  D DMA position  A appl_ptr"),
        Text("      █ written, not yet played   ░ silence filled   · free"),
        Text(f"I2S TX FIFO [{fifo}] {s.fifo_level}/{s.fifo_depth} frames, "
             f"watermark {s.fifo_trigger}"),
        Text(f"interrupts {s.irqs}   tasklet runs {s.tasklet_runs}   "
             f"callbacks coalesced {coalesced}"),
        Text(f"xruns {s.xruns}   recoveries {s.recoveries}"),
        Text(f"PCM {s.pcm_state}   DMA {s.dma_chan} ({s.driver}) {s.dma_status}"),
    )
