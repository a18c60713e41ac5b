"""The PL080 hardware model: its register decode, request-line routing, reads of the
position while another thread moves the hardware."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dma
from soc import pl080 as hw
from soc.clock import VirtualClock
from tests.conftest import TX_LINE, build
from tests.dma_helpers import _finish, _request, _start_cyclic


def test_request_line_routing_follows_every_config_change(board_fifo):
    """Who serves a request line is worked out once per CONFIG change: a halt, a restart,
    a starved line and a channel that ends its chain must each be seen at once."""
    board, _ = board_fifo
    chan, tx, cookie, _, ring = _start_cyclic(board)
    dmac = board.soc.hw["dma0"]
    n = next(i for i, c in enumerate(dmac.channels) if c.enabled)
    cfg_addr = dmac.base + hw.CH_BASE + n * hw.CH_STRIDE + hw.CH_CONFIG
    cfg = board.soc.bus.read32(cfg_addr)
    assert _request(board, 8) == 8
    board.soc.bus.write32(cfg_addr, cfg | hw.CFG_HALT)
    assert _request(board, 8) == 0
    board.soc.bus.write32(cfg_addr, cfg & ~hw.CFG_HALT)
    assert _request(board, 8) == 8
    dmac.starve(TX_LINE, True)
    assert _request(board, 8) == 0
    dmac.starve(TX_LINE, False)
    assert _request(board, 8) == 8
    dmac.channels[n].lli = 0  # the chain ends with this LLI: the channel disables itself
    assert _request(board, 4096) == 1024 - 3 * 8
    assert not dmac.channels[n].enabled and _request(board, 8) == 0
    assert dmac.bytes_to_event(TX_LINE, True) is None
    assert dmac.burst_bytes(TX_LINE, True) is None
    _finish(chan, ring)


def test_residue_is_read_at_one_instant_while_another_thread_moves_the_hardware():
    """The card thread may advance the hardware between two of the driver's register reads.

    On silicon the reads are nanoseconds apart; here a whole card callback could fall
    between them and put the position a period behind (or ahead), which the PCM would
    then take for a buffer wrap. The driver's read of LLI and CONTROL must see one instant.
    Two threads run the model, so the clock is an SMP one.
    """
    board, _ = build(clock=VirtualClock(smp=True))
    try:
        _residue_at_one_instant(board)
    finally:
        board.remove()


def _residue_at_one_instant(board) -> None:
    chan, tx, cookie, _, ring = _start_cyclic(board)
    _request(board, 1020)  # 4 bytes before the first period ends
    bus = board.soc.bus
    go, moved = threading.Event(), threading.Event()

    def card() -> None:
        go.wait()
        with bus.lock:
            _request(board, 8)  # into the second period
        moved.set()

    mover = threading.Thread(target=card)
    mover.start()

    def let_the_card_run(addr: int, value: int) -> None:
        if not go.is_set():
            go.set()
            moved.wait(0.3)  # the card gets its chance between the two reads

    bus.trace_rwmmio_post_read = let_the_card_run
    try:
        residue = dma.tx_status(chan, cookie)[1].residue
    finally:
        bus.trace_rwmmio_post_read = None
        mover.join()
    assert residue == 4096 - 1020
    assert dma.tx_status(chan, cookie)[1].residue == 4096 - 1028
    _finish(chan, ring)


def test_an_unknown_register_offset_is_logged_and_reads_0(board_fifo, caplog):
    """As QEMU's device models do: an offset the block does not decode is logged (and
    counted), reads as 0 and changes nothing; a known one reads back what was written."""
    board, _ = board_fifo
    dmac = board.soc.hw["dma0"]
    before = dmac.mmio_read(hw.CONFIG)
    with caplog.at_level("WARNING", logger="soc.pl080"):
        assert dmac.mmio_read(0x020) == 0  # a hole between ENBLD_CHNS and CONFIG
        dmac.mmio_write(0x020, 0xFFFF)
        assert dmac.mmio_read(hw.CH_BASE + 0x14) == 0  # past a channel's CONFIG
    assert dmac.unknown_accesses == 3
    assert [r.getMessage() for r in caplog.records] == [
        "dma0: read of unknown register offset 0x020",
        "dma0: write of unknown register offset 0x020",
        "dma0: read of unknown register offset 0x114"]
    assert dmac.mmio_read(hw.CONFIG) == before
    dmac.mmio_write(hw.SYNC, 0x12345)
    assert dmac.mmio_read(hw.SYNC) == 0x2345  # 16 request lines
    assert [dmac.mmio_read(0xFE0 + 4 * i) for i in range(4)] == list(hw.PERIPH_ID)


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=6))
def test_control_shape_is_latched_as_each_write_decodes_it(values):
    """Widths and burst bytes read from the latch always equal CONTROL's own decode, and
    a write that changes no shape bit reports no change (no relatch)."""
    ch = hw.Pl080Channel()
    prev = None
    for value in values:
        changed = ch.set_control(value)
        shape = value & hw.CTL_SHAPE_MASK
        assert changed == (shape != prev)
        prev = shape
        for shift, width in ((hw.CTL_SW_SHIFT, "swidth"), (hw.CTL_DW_SHIFT, "dwidth")):
            code = (value >> shift) & 7
            if code < len(hw.WIDTHS):
                assert getattr(ch, width) == hw.WIDTHS[code]
            else:
                with pytest.raises(ValueError):
                    getattr(ch, width)
        if ch.sw:
            assert ch.src_burst == hw.BURST_SIZES[(value >> hw.CTL_SB_SHIFT) & 7] * ch.sw
            assert ch.bytes_left == (value & hw.CTL_TSIZE_MASK) * ch.sw
        if ch.dw:
            assert ch.dst_burst == hw.BURST_SIZES[(value >> hw.CTL_DB_SHIFT) & 7] * ch.dw
