#!/usr/bin/env python3
"""A fenced dependency across two DMA channels, as async_tx runs one (the tour's step 5).

``a`` copies x to y on one memcpy channel with DMA_PREP_FENCE (what follows may read its
result); ``b`` copies y to z on another channel and depends on ``a``. async_tx_submit
cannot chain across channels, so it switches channel (async_tx_channel_switch): on a
device with DMA_INTERRUPT ``b`` would wait behind an interrupt descriptor on ``a``'s
channel; the PL08x and the PL330 have none, so the submitter waits for ``a``
(dma_wait_for_async_tx, which issues ``a``'s channel) and then submits ``b``. The times
printed are the hardware clock's.

    .venv/bin/python scripts/fenced-copy.py [--dmac pl080|pl330]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dmac", choices=("pl080", "pl330"), default="pl080")
    args = ap.parse_args()

    import numpy as np

    import dma
    from dma.async_tx import async_tx_submit
    from dma.dmaengine import PrepFlags as F
    from dma.mapping import dma_alloc_coherent
    from soc.board import make_board

    board = make_board(dmac=args.dmac)
    board.populate()
    clock = board.soc.clock
    try:
        a_chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
        b_chan = dma.request_chan_by_mask(dma.Cap.MEMCPY)
        pdev = board.devices["dma0"]
        x, xa = dma_alloc_coherent(pdev, 65536)
        y, ya = dma_alloc_coherent(pdev, 65536)
        z, za = dma_alloc_coherent(pdev, 65536)
        x[:] = np.random.default_rng(1).integers(0, 256, 65536, np.uint8)
        a = dma.prep_dma_memcpy(a_chan, ya, xa, 65536, F.PREP_INTERRUPT | F.PREP_FENCE)
        b = dma.prep_dma_memcpy(b_chan, za, ya, 65536, F.PREP_INTERRUPT)
        a.callback = lambda _: print(f"{clock.now_ns / 1e6:8.3f} ms  a done on {a_chan.name}")
        b.callback = lambda _: print(f"{clock.now_ns / 1e6:8.3f} ms  b done on {b_chan.name}")
        async_tx_submit(a_chan, a)
        print(f"{clock.now_ns / 1e6:8.3f} ms  a submitted (cookie {a.cookie}); b depends on it")
        async_tx_submit(b_chan, b, depend_tx=a)  # waits for a: no DMA_INTERRUPT here
        print(f"{clock.now_ns / 1e6:8.3f} ms  b submitted (cookie {b.cookie}) once a was done")
        dma.issue_pending(b_chan)
        clock.run_until_true(
            lambda: dma.tx_status(b_chan, b.cookie)[0] == dma.DmaStatus.COMPLETE, 10**9)
        print(f"z == x: {bool(np.array_equal(z, x))}")
        dma.release_channel(a_chan)
        dma.release_channel(b_chan)
        return 0 if np.array_equal(z, x) else 1
    finally:
        board.remove()


if __name__ == "__main__":
    sys.exit(main())
