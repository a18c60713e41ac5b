"""The DMA engine framework: the consumer API a client driver uses.

Counterpart: include/linux/dmaengine.h. Typical slave use, as sound/core/pcm_dmaengine.c
does it::

    chan = dma.request_chan(dev, "tx")
    dma.slave_config(chan, dma.SlaveConfig(direction=dma.TransferDirection.MEM_TO_DEV,
                                           dst_addr=fifo, dst_addr_width=2, dst_maxburst=8))
    tx = dma.prep_dma_cyclic(chan, ring, ring_bytes, period_bytes,
                             dma.TransferDirection.MEM_TO_DEV, dma.PrepFlags.PREP_INTERRUPT)
    tx.callback, tx.callback_param = period_done, substream
    dma.submit(tx)
    dma.issue_pending(chan)
"""

import soc  # noqa: F401  (its guard decides which build runs, before any import here)
from dma.consumer import (
    desc_clear_reuse,
    desc_free,
    desc_set_reuse,
    get_slave_caps,
    issue_pending,
    pause,
    prep_dma_cyclic,
    prep_dma_memcpy,
    prep_dma_memset,
    prep_slave_sg,
    prep_slave_single,
    resume,
    slave_config,
    submit,
    synchronize,
    terminate_async,
    terminate_sync,
    tx_status,
)
from dma.core import (
    DmaChan,
    find_chan,
    release_channel,
    request_chan,
    request_chan_by_mask,
    summary,
)
from dma.dmaengine import (
    AsyncTxDescriptor,
    Cap,
    DmaengineResult,
    DmaStatus,
    DmaTxResult,
    PrepFlags,
    ResidueGranularity,
    SlaveBuswidth,
    SlaveCaps,
    SlaveConfig,
    TransferDirection,
    TxState,
)
from dma.errors import DmaEngineError

__all__ = [
    "AsyncTxDescriptor", "Cap", "DmaChan", "DmaEngineError", "DmaStatus", "DmaTxResult",
    "DmaengineResult", "PrepFlags", "ResidueGranularity", "SlaveBuswidth", "SlaveCaps",
    "SlaveConfig", "TransferDirection", "TxState", "desc_clear_reuse", "desc_free",
    "desc_set_reuse", "find_chan", "get_slave_caps", "issue_pending", "pause",
    "prep_dma_cyclic", "prep_dma_memcpy", "prep_dma_memset", "prep_slave_sg",
    "prep_slave_single", "release_channel", "request_chan", "request_chan_by_mask", "resume",
    "slave_config", "submit", "summary", "synchronize", "terminate_async", "terminate_sync",
    "tx_status",
]
