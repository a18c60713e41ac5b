"""Helpers for the DMA tests: a coherent ring, a TX channel to the FIFO peripheral, a
started cyclic transfer, a peripheral request, the teardown."""

from __future__ import annotations

import numpy as np

import dma
from dma.dmaengine import SlaveBuswidth as W
from dma.dmaengine import TransferDirection as Dir
from dma.mapping import dma_alloc_coherent, dma_free_coherent
from tests.conftest import FIFO_BASE, TX_LINE

MS = 1_000_000
F = dma.PrepFlags


def _ring(board, nbytes):
    pdev = board.devices["dma0"]
    cpu, addr = dma_alloc_coherent(pdev, nbytes)
    cpu[:] = (np.arange(nbytes) * 7 & 0xFF).astype(np.uint8)
    return pdev, cpu, addr


def _tx_chan(board, width=W.BYTES_2, burst=8):
    chan = dma.request_chan(board.devices["fifo0"], "tx")
    dma.slave_config(chan, dma.SlaveConfig(direction=Dir.MEM_TO_DEV, dst_addr=FIFO_BASE,
                                           dst_addr_width=width, dst_maxburst=burst))
    return chan


def _start_cyclic(board, buf=4096, period=1024, width=W.BYTES_2):
    chan = _tx_chan(board, width)
    pdev, cpu, addr = _ring(board, buf)
    tx = dma.prep_dma_cyclic(chan, addr, buf, period, Dir.MEM_TO_DEV, F.PREP_INTERRUPT)
    calls = []
    tx.callback = lambda p: calls.append(board.soc.clock.now_ns)
    cookie = dma.submit(tx)
    dma.issue_pending(chan)
    return chan, tx, cookie, calls, (pdev, cpu, addr, buf)


def _request(board, n):
    return board.soc.hw["dma0"].dma_request(TX_LINE, n, to_periph=True)


def _finish(chan, ring):
    dma.terminate_sync(chan)
    dma.release_channel(chan)
    pdev, _, addr, buf = ring
    dma_free_coherent(pdev, buf, addr)
