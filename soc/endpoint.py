"""The codec end of the I2S bus, a board part a codec driver configures; it drives the far
end (:mod:`soc.sound_device`).

Counterpart: a codec chip on the I2S bus. Power-up opens the far end; the tap, the virtual
device's source and loop: docs/design-notes.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from soc.clock import RealtimeClock, VirtualClock
from soc.dw_i2s import DwI2s
from soc.sound_device import PortAudioDevice, VirtualDevice

STANDARD_RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 64000, 88200, 96000,
                  176400, 192000]


class Endpoint:
    """A configurable far end: ``device`` is a sounddevice device, or "virtual"."""

    def __init__(
        self,
        clock: VirtualClock,
        i2s: DwI2s,
        device: Any = "virtual",
        source: Callable[[int, int, int], np.ndarray] | None = None,
        loop: bool = False,
        loop_delay: int = 64,
        tap: bool = False,
        blocksize: int = 0,
        latency: Any = None,
        settle_ms: int = 300,
    ) -> None:
        self.clock, self.i2s = clock, i2s
        self.device = device
        self.source = source
        self.loop, self.loop_delay = loop, loop_delay
        self.tap = tap
        self.blocksize, self.latency = blocksize, latency
        self.settle_ms = settle_ms
        self.far_end: PortAudioDevice | VirtualDevice | None = None
        self.last_far_end: PortAudioDevice | VirtualDevice | None = None  # its stats outlive it
        self.config: tuple[int, int, int] | None = None
        self.directions: tuple[bool, bool] = (False, False)
        # per stream: its (rate, channels, bits) and the frames shifted out, in blocks
        # the card's thread appends and a reader may take (deque: both thread-safe)
        self._tap: list[tuple[tuple[int, int, int], deque[np.ndarray]]] = []
        self._loop: deque[np.ndarray] = deque()
        self.lost: BaseException | None = None  # why the far end went away, once it has
        self.on_unplug: Callable[[], None] | None = None  # the codec driver's hotplug hook

    @property
    def is_virtual(self) -> bool:
        return self.device == "virtual"

    @property
    def running(self) -> bool:
        return self.far_end is not None

    def describe(self) -> str:
        if self.is_virtual:
            return "the virtual card" + (" (loop)" if self.loop else "")
        try:
            import sounddevice as sd

            info = sd.query_devices(self.device)
            api = sd.query_hostapis(info["hostapi"])["name"]
            return f"sound device {info['index']} {info['name']!r} ({api})"
        except Exception:
            return f"sound device {self.device!r}"

    # -- what the codec driver asks --

    def rates(self, playback: bool) -> list[int]:
        """Rates the far end accepts (all standard rates for the virtual card)."""
        if self.is_virtual:
            return list(STANDARD_RATES)
        import sounddevice as sd

        check = sd.check_output_settings if playback else sd.check_input_settings
        ok = []
        for rate in STANDARD_RATES:
            try:
                check(device=self.device, samplerate=rate)
                ok.append(rate)
            except Exception:
                pass
        return ok

    def channels_max(self, playback: bool) -> int:
        if self.is_virtual:
            return 8
        import sounddevice as sd

        info = sd.query_devices(self.device)
        return int(info["max_output_channels" if playback else "max_input_channels"])

    def latency_frames(self) -> int:
        return self.far_end.latency_frames if self.far_end is not None else 0

    def start(self, rate: int, channels: int, bits: int, playback: bool, capture: bool) -> None:
        """Power up: open the far end; on a real clock, wait for its first tick."""
        if self.far_end is not None:
            raise RuntimeError("endpoint already running")
        self.config, self.directions = (rate, channels, bits), (playback, capture)
        if self.is_virtual:
            source: Any = None
            if self.loop:
                self._loop.clear()
                if self.loop_delay:
                    self._loop.append(np.zeros((self.loop_delay, channels), np.int32))
                source = self._loop_source
            elif self.source is not None:
                source = self.source(rate, channels, bits)
            far_end: Any = VirtualDevice(self.clock, self.i2s, rate, channels, bits, source,
                                    record=False)
        else:
            far_end = PortAudioDevice(cast(RealtimeClock, self.clock), self.i2s, self.device,
                                      rate, channels, bits, playback, capture, self.blocksize,
                                      self.latency, on_lost=self.lose)
        far_end.start()
        self.far_end = far_end
        sink: Callable[[np.ndarray], None] | None = self.i2s.tx_sink
        if self.tap or self.loop:
            self.i2s.tx_sink = self._tx_tap(sink, self.config)
        if self.clock.realtime:
            t0 = self.clock.now_ns
            settle = 0 if self.is_virtual else self.settle_ms * 1_000_000
            if not self.clock.wait_until(lambda: self.clock.now_ns > t0 + settle,
                                         10_000_000_000):
                self.stop()
                raise TimeoutError(f"{self.describe()}: no clock from the card within 10 s")

    def lose(self, error: BaseException) -> None:
        """The far end went away (a sound device lost, a server gone): a hot-unplug.

        The codec driver hears of it first (``on_unplug``), so the card is disconnected
        and every PCM waiter woken with the kernel's errno; then the clock fails with
        ``error``, for whatever else waits on it. A sound device calls this from a thread
        of its own; a test may call it at any instant of the virtual clock."""
        if self.lost is not None:
            return
        self.lost = error
        if self.on_unplug is not None:
            self.on_unplug()
        fail = getattr(self.clock, "fail", None)  # a RealtimeClock's: wakes its waiters
        if fail is not None:
            fail(error)

    def _tx_tap(self, sink: Callable[[np.ndarray], None] | None,
                config: tuple[int, int, int]):
        keep = np.int16 if config[2] <= 16 else np.int32
        chunks: deque[np.ndarray] = deque()
        if self.tap:
            self._tap.append((config, chunks))

        def tx(frames: np.ndarray) -> None:
            if self.tap:
                chunks.append(frames.astype(keep))  # a copy, so a sink cannot change it
            if self.loop:
                self._loop.append(frames.copy())
            if sink is not None:
                sink(frames)

        return tx

    def _loop_source(self, n: int) -> np.ndarray:
        ch = self.config[1] if self.config else 2
        out = np.zeros((n, ch), np.int32)
        got = 0
        while got < n and self._loop:
            head = self._loop[0]
            take = min(n - got, len(head))
            out[got : got + take] = head[:take, :ch]
            if take == len(head):
                self._loop.popleft()
            else:
                self._loop[0] = head[take:]
            got += take
        return out

    def stop(self) -> None:
        far_end, self.far_end = self.far_end, None
        if far_end is not None:
            far_end.stop()
            self.last_far_end = far_end

    def clear_tap(self) -> None:
        """Forget what was tapped so far; a stream that runs goes on being tapped."""
        running = self._tap[-1:] if self.far_end is not None else []
        for _, chunks in running:
            chunks.clear()
        self._tap[:] = running

    def take_tap(self) -> list[tuple[tuple[int, int, int], list[np.ndarray]]]:
        """Each stream's (rate, channels, word bits) and the blocks shifted out since the
        last take, which the tap then no longer holds: a reader that takes as it goes
        keeps the tap's memory to what one write lets play."""
        taken = []
        for config, chunks in list(self._tap):
            blocks = []
            while chunks:
                blocks.append(chunks.popleft())
            taken.append((config, blocks))
        if self.far_end is None:  # no stream runs: the taken ones are done
            self._tap.clear()
        else:
            del self._tap[:-1]
        return taken

    def tapped_streams(self) -> list[tuple[tuple[int, int, int], np.ndarray]]:
        """Each stream's (rate, channels, word bits) and the frames it shifted out to the
        card, as line values, in the order the streams ran."""
        return [(config, np.concatenate(list(chunks), dtype=np.int32) if chunks else
                 np.zeros((0, config[1]), np.int32)) for config, chunks in self._tap]

    def tapped(self) -> np.ndarray:
        """Every frame shifted out to the card since the tap was set, as line values;
        ValueError when the streams had different channel counts."""
        if len({config[1] for config, _ in self._tap}) > 1:
            raise ValueError("the tapped streams have different channel counts: "
                             "see tapped_streams()")
        chunks = [c for _, stream in self._tap for c in stream]
        if not chunks:
            ch = self.config[1] if self.config else 2
            return np.zeros((0, ch), np.int32)
        return np.concatenate(chunks, dtype=np.int32)
