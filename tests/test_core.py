"""Registration checks, channel lookup and release, caps, slave_config, summary."""

from __future__ import annotations

import errno

import pytest

import dma
from dma.core import DmaDevice, async_device_register, async_device_unregister
from dma.dmaengine import SlaveBuswidth as W
from dma.dmaengine import TransferDirection as Dir


def _device(caps, **ops):
    dev = DmaDevice(dev=object(), cap_mask=caps,
                    device_tx_status=lambda *a: None, device_issue_pending=lambda c: None)
    for k, v in ops.items():
        setattr(dev, k, v)
    return dev


@pytest.mark.parametrize(
    "cap,op",
    [
        (dma.Cap.MEMCPY, "device_prep_dma_memcpy"),
        (dma.Cap.MEMSET, "device_prep_dma_memset"),
        (dma.Cap.XOR, "device_prep_dma_xor"),
        (dma.Cap.XOR_VAL, "device_prep_dma_xor_val"),
        (dma.Cap.PQ, "device_prep_dma_pq"),
        (dma.Cap.PQ_VAL, "device_prep_dma_pq_val"),
        (dma.Cap.CYCLIC, "device_prep_dma_cyclic"),
        (dma.Cap.INTERRUPT, "device_prep_dma_interrupt"),
        (dma.Cap.INTERLEAVE, "device_prep_interleaved_dma"),
    ],
)
def test_register_refuses_a_capability_without_its_op(cap, op):
    with pytest.raises(dma.DmaEngineError) as e:
        async_device_register(_device(cap))
    assert e.value.errno == errno.EIO
    assert op in str(e.value) and f"DMA_{cap.name}" in str(e.value)


@pytest.mark.parametrize("missing", ["device_tx_status", "device_issue_pending"])
def test_register_requires_tx_status_and_issue_pending(missing):
    dev = _device(dma.Cap.SLAVE, **{missing: None})
    with pytest.raises(dma.DmaEngineError, match=missing) as e:
        async_device_register(dev)
    assert e.value.errno == errno.EIO


def test_register_refuses_a_device_with_no_dev():
    dev = _device(dma.Cap.MEMCPY, device_prep_dma_memcpy=lambda *a: None)
    dev.dev = None
    with pytest.raises(dma.DmaEngineError, match="must have dev") as e:
        async_device_register(dev)
    assert e.value.errno == errno.EIO


def test_register_accepts_a_complete_device_and_numbers_it():
    dev = _device(dma.Cap.MEMCPY, device_prep_dma_memcpy=lambda *a: None)
    async_device_register(dev)
    try:
        assert dev.dev_id >= 0
    finally:
        async_device_unregister(dev)


def test_request_chan_by_name_marks_private_and_release_frees(board):
    """amba-pl08x sets no DMA_PRIVATE at probe: dma_get_slave_channel sets it on the
    device while a channel is taken, and the last release clears it."""
    pdev = board.devices["fifo0"]
    slave = board.devices["dma0"].drvdata.slave
    assert not slave.cap_mask & dma.Cap.PRIVATE
    chan = dma.request_chan(pdev, "tx")
    assert chan.device is slave and chan.device.cap_mask & dma.Cap.PRIVATE
    assert chan.client_count == 1 and chan.dbg_client_name == "fifo0:tx"
    assert "| fifo0:tx" in dma.summary()
    dma.release_channel(chan)
    assert chan.client_count == 0 and "fifo0:tx" not in dma.summary()
    assert not slave.cap_mask & dma.Cap.PRIVATE
    again = dma.request_chan(pdev, "tx")  # free again after release
    assert again is chan
    dma.release_channel(again)


def test_request_chan_errors_name_what_was_asked(board):
    pdev = board.devices["fifo0"]
    with pytest.raises(dma.DmaEngineError, match="'spdif'") as e:
        dma.request_chan(pdev, "spdif")
    assert e.value.errno == errno.ENODEV
    chan = dma.request_chan(pdev, "tx")
    with pytest.raises(dma.DmaEngineError, match="in use by fifo0:tx") as e:
        dma.request_chan(pdev, "tx")
    assert e.value.errno == errno.ENODEV
    dma.release_channel(chan)


def test_request_chan_without_a_registered_provider():
    from soc.board import make_board
    from soc.platform import DtNode

    node = DtNode("x", "test,none", dmas=(("dma9", 1),), dma_names=("tx",))
    b = make_board(extra_nodes=[node])
    b.populate()
    try:
        with pytest.raises(dma.DmaEngineError, match="'dma9'.*not registered") as e:
            dma.request_chan(b.devices["x"], "tx")
        assert e.value.errno == errno.ENODEV
    finally:
        b.remove()


def test_get_slave_caps(board):
    with pytest.raises(dma.DmaEngineError) as e:
        dma.get_slave_caps(None)
    assert e.value.errno == errno.EINVAL
    memcpy = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    with pytest.raises(dma.DmaEngineError) as e:
        dma.get_slave_caps(memcpy)
    assert e.value.errno == errno.ENXIO
    dma.release_channel(memcpy)
    chan = dma.request_chan(board.devices["fifo0"], "tx")
    caps = dma.get_slave_caps(chan)
    assert caps.directions == (1 << Dir.MEM_TO_DEV) | (1 << Dir.DEV_TO_MEM)
    assert caps.dst_addr_widths == (1 << 1) | (1 << 2) | (1 << 4)
    assert caps.cmd_pause and caps.cmd_resume and caps.cmd_terminate
    assert caps.residue_granularity == dma.ResidueGranularity.SEGMENT  # amba-pl08x's
    assert (caps.min_burst, caps.max_burst) == (1, 256)
    dma.release_channel(chan)


def test_slave_config_validates_against_caps(board):
    chan = dma.request_chan(board.devices["fifo0"], "tx")
    ok = dma.SlaveConfig(direction=Dir.MEM_TO_DEV, dst_addr=0x2000_0000,
                         dst_addr_width=W.BYTES_2, dst_maxburst=8)
    dma.slave_config(chan, ok)
    for bad, field in [
        (dma.SlaveConfig(dst_addr_width=W.BYTES_3), "dst_addr_width 3"),
        (dma.SlaveConfig(dst_addr_width=W.BYTES_2, dst_maxburst=512), "dst_maxburst 512"),
        (dma.SlaveConfig(direction=Dir.MEM_TO_MEM), "direction MEM_TO_MEM"),
    ]:
        with pytest.raises(dma.DmaEngineError, match=field) as e:
            dma.slave_config(chan, bad)
        assert e.value.errno == errno.EINVAL
    dma.release_channel(chan)
    memcpy = dma.request_chan_by_mask(dma.Cap.MEMCPY)
    with pytest.raises(dma.DmaEngineError) as e:
        dma.slave_config(memcpy, ok)
    assert e.value.errno == errno.ENOSYS
    dma.release_channel(memcpy)


def test_missing_pause_and_resume_are_enosys_and_terminate_einval():
    """dmaengine_pause and _resume answer -ENOSYS for a missing op;
    dmaengine_terminate_async answers -EINVAL."""
    dev = _device(dma.Cap.MEMCPY, device_prep_dma_memcpy=lambda *a: None)
    chan = dma.DmaChan(dev)
    for call, err in ((dma.pause, errno.ENOSYS), (dma.resume, errno.ENOSYS),
                      (dma.terminate_async, errno.EINVAL)):
        with pytest.raises(dma.DmaEngineError) as e:
            call(chan)
        assert e.value.errno == err
    assert dma.prep_dma_cyclic(chan, 0, 64, 32, Dir.MEM_TO_DEV) is None  # no op: None


def test_summary_format(board):
    chan = dma.request_chan(board.devices["fifo0"], "rx")
    text = dma.summary()
    lines = text.splitlines()
    assert lines[0] == "dma0 (dma0): number of channels: 8"  # one per physical channel
    assert f" {chan.name:<13}| fifo0:rx" in lines
    assert "dma1 (dma0): number of channels: 16" in lines
    memcpy = dma.request_chan_by_mask(dma.Cap.MEMCPY)  # no name: the kernel's "in-use"
    assert f" {memcpy.name:<13}| in-use" in dma.summary().splitlines()
    dma.release_channel(memcpy)
    dma.release_channel(chan)
