"""A board with the cyclic TX (and optionally RX) DMA path to the I2S, without the PCM layer.

Used by the sound-device tests and, as a script, by the end-to-end tests that must run in their
own process (PortAudio reads the JACK and PulseAudio environment when it initialises).
The I2S registers are programmed directly, as the DAI driver of the PCM issue will.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import dma
from dma.dmaengine import TransferDirection as Dir
from dma.mapping import dma_alloc_coherent
from soc import dw_i2s as r
from soc.board import I2S_BASE, make_board
from soc.clock import RealtimeClock
from soc.dw_i2s import WLEN_BITS

WLEN = {bits: code for code, bits in WLEN_BITS.items()}  # bits per word -> TCR/RCR code


def start_tx(board, ring: np.ndarray, period_frames: int, bits: int = 16):
    """Fill a coherent ring with ``ring`` (frames x channels) and start the cyclic DMA."""
    frames, ch = ring.shape
    slot = 2 if bits <= 16 else 4
    i2s = board.soc.hw["i2s0"]
    chan = dma.request_chan(board.devices["i2s0"], "tx")
    dma.slave_config(chan, dma.SlaveConfig(direction=Dir.MEM_TO_DEV, dst_addr=I2S_BASE + r.TXDMA,
                                           dst_addr_width=slot, dst_maxburst=8))
    cpu, addr = dma_alloc_coherent(board.devices["dma0"], frames * ch * slot)
    cpu[:] = ring.astype("<i2" if slot == 2 else "<i4").reshape(-1).view(np.uint8)
    i2s.mmio_write(r.TCR, WLEN[bits])
    i2s.mmio_write(r.TXCHN, ch)
    i2s.mmio_write(r.TFCR, 8)
    i2s.mmio_write(r.IER, 1)
    i2s.mmio_write(r.CER, 1)
    periods = []
    tx = dma.prep_dma_cyclic(chan, addr, cpu.size, period_frames * ch * slot, Dir.MEM_TO_DEV,
                             dma.PrepFlags.PREP_INTERRUPT)
    tx.callback = lambda p: periods.append(time.monotonic())
    dma.submit(tx)
    dma.issue_pending(chan)
    i2s.mmio_write(r.ITER, 1)
    return chan, periods


def find_ring_offset(stream: np.ndarray, ring: np.ndarray, probe: int = 64) -> tuple[int, int]:
    """(index of the first frame with every channel live, ring frame it matches), or -1s.

    Channels are looped back one connection at a time, so a frame with only some channels
    live can come first; the comparison starts where all are."""
    nz = np.nonzero(np.all(stream != 0, axis=1))[0]
    if nz.size == 0:
        return -1, -1
    k = int(nz[0])
    window = stream[k : k + probe]
    for j in range(len(ring)):
        if np.array_equal(np.resize(np.roll(ring, -j, axis=0), window.shape), window):
            return k, j
    return k, -1


def compare_to_ring(stream: np.ndarray, ring: np.ndarray) -> dict:
    """Check that ``stream`` is the ring tiled, from its first live frame to its last
    non-silent one (a recorder keeps running after the player stopped)."""
    k, j = find_ring_offset(stream, ring)
    if j < 0:
        return {"ok": False, "reason": "ring not found", "start": k}
    live = np.nonzero(np.any(stream != 0, axis=1))[0]
    body = stream[k : int(live[-1]) + 1]
    expect = np.resize(np.roll(ring, -j, axis=0), body.shape)
    bad = np.nonzero(np.any(body != expect, axis=1))[0]
    return {"ok": bad.size == 0, "start": k, "ring_offset": j, "compared": int(len(body)),
            "mismatches": int(bad.size), "first_bad": int(bad[0]) if bad.size else -1}


def main() -> int:
    """``python -m tests.i2s_path DEVICE SECONDS [--loopback jack-server]``: JSON result."""
    import subprocess

    import sounddevice as sd

    from soc.sound_device import PortAudioDevice

    device, seconds = sys.argv[1], float(sys.argv[2])
    jack = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--loopback" else None
    expect_loss = "--expect-loss" in sys.argv
    if device.isdigit():
        device = int(device)
    rng = np.random.default_rng(1)
    ring = rng.integers(-32768, 32768, size=(4096, 2)).astype(np.int32)
    board = make_board(clock=RealtimeClock())
    board.populate()
    try:
        chan, periods = start_tx(board, ring, 1024)
        far_end = PortAudioDevice(board.soc.clock, board.soc.hw["i2s0"], device=device,
                                  rate=48000, channels=2, bits=16, playback=True,
                                  capture=jack is not None, blocksize=256 if jack else 0)
        captured: list[np.ndarray] = []
        if jack:
            far_end.rx_monitor = lambda frames: captured.append(frames.copy())
            i2s = board.soc.hw["i2s0"]  # RX on: the serializer pulls the far end's input
            i2s.mmio_write(r.RCR, WLEN[16])
            i2s.mmio_write(r.RXCHN, 2)
            i2s.mmio_write(r.IRER, 1)
        switch_interval_before = sys.getswitchinterval()
        far_end.start()
        if jack:
            time.sleep(0.2)
            ports = subprocess.run(["jack_lsp", "-s", jack], capture_output=True, text=True).stdout
            for line in ports.split():
                if line.startswith("PortAudio:"):
                    for sysport in ("system:playback_1", "system:playback_2",
                                    "system:capture_1", "system:capture_2"):
                        subprocess.run(["jack_disconnect", "-s", jack, line, sysport],
                                       capture_output=True)
            for k in range(2):
                subprocess.run(["jack_connect", "-s", jack, f"PortAudio:out_{k}",
                                f"PortAudio:in_{k}"], check=True)
        print("started", flush=True)
        try:
            board.soc.clock.wait_until(lambda: False, int(seconds * 1e9))
        except Exception as e:  # the device went away: an error, never a hang
            far_end.stop()
            print(json.dumps({"lost": type(e).__name__, "message": str(e),
                              "errors": far_end.stats.errors}))
            return 0 if expect_loss else 1
        latency = {"latency_frames": far_end.latency_frames,
                   "stream_latency": far_end.stream.latency,
                   "switch_interval_before": switch_interval_before,
                   "switch_interval_running": sys.getswitchinterval()}
        far_end.stop()
        latency["switch_interval_stopped"] = sys.getswitchinterval()
        result = {**latency, "callbacks": far_end.stats.callbacks, "frames": far_end.stats.frames,
                  "i2s_frames": board.soc.hw["i2s0"].frames,
                  "ready_frames": far_end.pacer.ready_frames if far_end.pacer else 0,
                  "lead_frames": far_end.pacer.lead_frames if far_end.pacer else 0,
                  "periods": len(periods), "i2s_underruns": board.soc.hw["i2s0"].tx_underruns,
                  "output_underflows": far_end.stats.output_underflows,
                  "errors": far_end.stats.errors, "portaudio": sd.get_portaudio_version()[1]}
        if jack:
            result.update(compare_to_ring(np.concatenate(captured), ring))
        dma.terminate_sync(chan)
        dma.release_channel(chan)
    finally:
        board.remove()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
