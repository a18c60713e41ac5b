"""Shared fixtures: populated boards on the virtual clock (the DMA board, the audio board)
and a FIFO peripheral."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from dma.core import registered_devices, summary
from dma.mapping import dma_debug_reset
from soc.board import DMACS, make_audio_board, make_board
from soc.platform import DtNode

FIFO_BASE = 0x2000_0000
TX_LINE = 5
RX_LINE = 6


class FifoPeripheral:
    """A test peripheral below our seams: a data register that records what the DMA
    writes and supplies a counting byte stream to DMA reads."""

    def __init__(self) -> None:
        self.written: list[np.ndarray] = []
        self.widths: list[int] = []
        self.next_byte = 0

    def mmio_read(self, off: int) -> int:
        return 0

    def mmio_write(self, off: int, value: int) -> None:
        pass

    def fifo_write(self, off: int, data: np.ndarray, width: int) -> None:
        self.written.append(data.copy())
        self.widths.append(width)

    def fifo_read(self, off: int, nbytes: int, width: int) -> np.ndarray:
        out = (np.arange(self.next_byte, self.next_byte + nbytes) & 0xFF).astype(np.uint8)
        self.next_byte += nbytes
        return out

    def data(self) -> np.ndarray:
        return np.concatenate(self.written) if self.written else np.zeros(0, np.uint8)


def build(**kw):
    node = DtNode("fifo0", "test,fifo", reg=(FIFO_BASE, 0x100),
                  dmas=(("dma0", TX_LINE), ("dma0", RX_LINE)), dma_names=("tx", "rx"))
    board = make_board(extra_nodes=[node], **kw)
    fifo = FifoPeripheral()
    board.soc.bus.add_mmio("fifo0", FIFO_BASE, 0x100, fifo)
    board.populate()
    return board, fifo


@pytest.fixture(autouse=True)
def _no_dma_device_left_behind():
    """Every test leaves the DMA engine's device list as it found it: a board a test did
    not remove would stay registered, and the next ``request_chan_by_mask`` could hand
    out its channels. The leaking test fails, with the debugfs summary of what it left."""
    before = registered_devices()
    yield
    left = [d for d in registered_devices() if d not in before]
    assert not left, f"DMA devices left registered:\n{summary()}"


@pytest.fixture
def board():
    dma_debug_reset()
    b, _ = build()
    yield b
    b.remove()


@pytest.fixture(params=DMACS)
def audio_board(request):
    """The audio board (DMA controller, I2S controller, the virtual card with a tap),
    populated, on the virtual clock; once with each DMA controller."""
    b = make_audio_board(tap=True, dmac=request.param)
    b.populate()
    yield b
    b.remove()


def dmac_of(board) -> str:
    """Which DMA controller a board carries: "pl080" or "pl330"."""
    return next(n.compatible.split(",")[1] for n in board.nodes if n.name == "dma0")


def skip_without_pause(board) -> None:
    """pl330 has no device_resume, so the generic dmaengine PCM gives its streams no
    PAUSE and no RESUME (snd_dmaengine_pcm_refine_runtime_hwparams), as on Linux:
    a test of pausing or resuming runs on the PL080 only (test_pl330_pcm.py holds the
    PL330's refusals)."""
    if dmac_of(board) == "pl330":
        pytest.skip("the PL330's PCM cannot pause or resume, as mainline's")


@pytest.fixture
def board_fifo():
    dma_debug_reset()
    b, fifo = build()
    yield b, fifo
    b.remove()


# Hypothesis: the suite's profile keeps each property to 100 examples; "deep"
# (HYPOTHESIS_PROFILE=deep) searches far more, for a run by name.
settings.register_profile("default", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("deep", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


class PlatformSpy:
    """Stands in for a DAI link's platform component: records the trigger commands, may
    answer ``pointer`` itself (a buggy driver), and passes everything else on."""

    def __init__(self, real, pointer=None) -> None:
        self.real, self._pointer, self.triggers = real, pointer, []

    def trigger(self, ss, cmd) -> None:
        self.triggers.append(cmd)
        self.real.trigger(ss, cmd)

    def pointer(self, ss) -> int:
        return self._pointer(ss) if self._pointer is not None else self.real.pointer(ss)

    def __getattr__(self, name: str):
        return getattr(self.real, name)


@contextlib.contextmanager
def spied_platform(substream, pointer=None):
    """Put a :class:`PlatformSpy` in the substream's DAI link for the ``with`` block."""
    link = substream.ops.link
    real = link.platform
    link.platform = spy = PlatformSpy(real, pointer)
    try:
        yield spy
    finally:
        link.platform = real
