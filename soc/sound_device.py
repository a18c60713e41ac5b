"""The far end of the I2S bus: a PortAudio device through sounddevice, or the virtual device.

Counterpart: the codec's analog side and whatever is behind it. The device's callback is
the master clock (docs/architecture.md, docs/design-notes.md).
Context: the callback never blocks; bottom halves run on the CPU worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soc.clock import RealtimeClock, VirtualClock, WallClock
from soc.device_pacer import DevicePacer
from soc.dw_i2s import DwI2s
from soc.errors import DeviceError
from soc.line_format import device_dtype, device_to_line, line_to_device
from soc.portaudio import forget_exit_handler, is_float_server
from soc.switch_interval import switch_interval


@dataclass
class DeviceStats:
    callbacks: int = 0
    frames: int = 0
    output_underflows: int = 0  # PortAudio's own flags, not I2S FIFO underruns
    underflow_frames: list[int] = field(default_factory=list)  # card frame of each one
    input_overflows: int = 0
    errors: list[str] = field(default_factory=list)


class PortAudioDevice:
    """A real card: a sounddevice stream whose callback is the SoC's master clock."""

    def __init__(
        self,
        clock: RealtimeClock,
        i2s: DwI2s,
        device: Any = None,
        rate: int = 48000,
        channels: int = 2,
        bits: int = 16,
        playback: bool = True,
        capture: bool = False,
        blocksize: int = 0,
        latency: Any = None,
        watchdog_s: float = 2.0,
        paced: bool = True,
        on_lost: Callable[[DeviceError], None] | None = None,
    ) -> None:
        if not clock.realtime:
            raise ValueError("a sound card needs a RealtimeClock: it is the master clock")
        self.clock, self.i2s = clock, i2s
        self.device, self.rate, self.channels, self.bits = device, rate, channels, bits
        self.playback, self.capture = playback, capture
        self.blocksize, self.latency = blocksize, latency
        self.watchdog_s = watchdog_s
        # Told once when the device goes away, in a thread of its own (a hotplug worker:
        # PortAudio's threads must not wait on the stack); without it the clock fails.
        self.on_lost = on_lost
        # Sees each block of input as the far end hands it to the I2S (line format)
        self.rx_monitor: Callable[[np.ndarray], None] | None = None
        self.lost: DeviceError | None = None
        self._lost_lock = threading.Lock()  # the watchdog and the finished callback may race
        self.stats = DeviceStats()
        self.stream: Any = None
        self._callback_abort: type[Exception] = RuntimeError  # sd.CallbackAbort once started
        self.float_device = False
        self.origin_ns = 0
        self._out: np.ndarray | None = None
        self._in: np.ndarray | None = None
        self._out_pos = self._in_pos = 0
        self._closing = False
        self._last_callback = 0.0
        self._watchdog: threading.Thread | None = None
        self._stream_latency = 0  # PortAudio's latency in frames, fixed once it is open
        self.paced = paced
        self.pacer: DevicePacer | None = None
        self._holds_switch_interval = False

    # -- the I2S side --

    def _tx_sink(self, frames: np.ndarray) -> None:
        if self.pacer is not None:
            self.pacer.put(line_to_device(frames, self.bits, self.float_device))
            return
        out = self._out
        if out is None:
            return
        n = min(len(frames), len(out) - self._out_pos)
        out[self._out_pos : self._out_pos + n] = line_to_device(frames[:n], self.bits,
                                                              self.float_device)
        self._out_pos += n

    def _rx_source(self, n: int) -> np.ndarray:
        data = self._in
        if data is None:
            return np.zeros((n, self.channels), np.int32)
        chunk = data[self._in_pos : self._in_pos + n]
        self._in_pos += n
        if len(chunk) < n:
            chunk = np.concatenate([chunk, np.zeros((n - len(chunk), self.channels), chunk.dtype)])
        line = device_to_line(chunk, self.bits)
        if self.rx_monitor is not None:
            self.rx_monitor(line)
        return line

    # -- the PortAudio side --

    def _tick(self, indata: Any, outdata: Any, frames: int, status: Any) -> None:
        try:
            self._last_callback = time.monotonic()
            st = self.stats
            st.callbacks += 1
            if status.output_underflow:
                st.output_underflows += 1
                st.underflow_frames.append(st.frames)
            if status.input_overflow:
                st.input_overflows += 1
            if self.pacer is not None:
                self.pacer.take(outdata, st.frames)
                st.frames += frames
                return
            self._out, self._out_pos = outdata, 0
            self._in, self._in_pos = indata, 0
            st.frames += frames
            self.clock.advance_frames(st.frames, self.rate, self.origin_ns)
            if outdata is not None and self._out_pos < frames:
                outdata[self._out_pos :] = 0
        except Exception as e:  # never let an exception escape into PortAudio silently
            self.stats.errors.append(repr(e))
            self.clock.fail(e)
            raise self._callback_abort from e
        finally:
            self._out = self._in = None

    def start(self) -> None:
        import sounddevice as sd

        self._callback_abort = sd.CallbackAbort
        try:
            self.float_device = is_float_server(self.device)
        except (sd.PortAudioError, ValueError) as e:
            raise DeviceError(f"cannot open sound device {self.device!r}: {e}") from None
        dtype = device_dtype(self.bits, self.float_device)
        kw = dict(device=self.device, samplerate=self.rate, channels=self.channels,
                  dtype=dtype, blocksize=self.blocksize, latency=self.latency,
                  finished_callback=self._finished, dither_off=True, clip_off=True)
        self.origin_ns = self.clock.now_ns
        if self.paced and self.playback and not self.capture:
            self.pacer = DevicePacer(self.clock, self.rate, self.origin_ns)
        self.i2s.connect(self.rate, self._tx_sink if self.playback else None,
                         self._rx_source if self.capture else None)
        try:
            if self.playback and self.capture:
                self.stream = sd.Stream(
                    callback=lambda i, o, f, t, s: self._tick(i, o, f, s), **kw)
            elif self.capture:
                self.stream = sd.InputStream(
                    callback=lambda i, f, t, s: self._tick(i, None, f, s), **kw)
            else:
                self.stream = sd.OutputStream(
                    callback=lambda o, f, t, s: self._tick(None, o, f, s), **kw)
            lat = self.stream.latency
            lat = lat[1] if isinstance(lat, tuple) else lat
            self._stream_latency = int(round(lat * self.rate))
            self._last_callback = time.monotonic()
            switch_interval.hold()
            self._holds_switch_interval = True
            self.stream.start()
        except (sd.PortAudioError, ValueError) as e:
            self.stop()  # the pacer's thread, the switch interval, a stream half opened
            raise DeviceError(f"cannot open sound device {self.device!r}: {e}") from None
        self._watchdog = threading.Thread(target=self._watch, name="card-watchdog", daemon=True)
        self._watchdog.start()

    def _finished(self) -> None:
        if not self._closing:
            self._lose(DeviceError("the sound device stopped the stream (server gone?)"))

    def _watch(self) -> None:
        while not self._closing:
            time.sleep(0.1)
            if self._closing:
                return
            if time.monotonic() - self._last_callback > self.watchdog_s:
                self._lose(DeviceError(
                    f"no callback from the sound device for {self.watchdog_s:g} s "
                    "(device lost or server gone)"))
                return

    def _lose(self, error: DeviceError) -> None:
        """The device went away: tell ``on_lost`` (once) or fail the clock."""
        with self._lost_lock:
            if self.lost is not None:
                return
            self.lost = error
        if self.on_lost is None:
            self.clock.fail(error)
            return
        threading.Thread(target=self.on_lost, args=(error,), name="card-lost",
                         daemon=True).start()

    @property
    def latency_frames(self) -> int:
        """PortAudio's output (or input) latency, in frames, read once at open (the
        pointer asks every period, through the codec's ``delay``), plus the pacer's lead."""
        if self.stream is None:
            return 0
        lead = self.pacer.lead_frames if self.pacer is not None else 0
        return self._stream_latency + lead

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop and close the stream. With a vanished server PortAudio's stop can wait
        forever for a callback thread that is gone: give it ``timeout_s``, then leave it.
        By default 3 s, or half a second once the device is known lost (a vanished JACK
        server's stream never closes; there is nothing to wait for)."""
        if timeout_s is None:
            timeout_s = 0.5 if self.lost is not None else 3.0
        self._closing = True
        if self.pacer is not None:
            self.pacer.stop()
        if self._holds_switch_interval:
            self._holds_switch_interval = False
            switch_interval.release()
        stream, self.stream = self.stream, None
        if stream is None:
            return

        def close() -> None:
            try:
                stream.stop()
                stream.close()
            except Exception as e:  # closing a lost device is best effort
                self.stats.errors.append(repr(e))

        closer = threading.Thread(target=close, name="card-close", daemon=True)
        closer.start()
        closer.join(timeout_s)
        if closer.is_alive():
            self.stats.errors.append(f"stream did not close within {timeout_s:g} s")
            forget_exit_handler()


class VirtualDevice:
    """The built-in card: records what it is played, supplies capture frames.

    On the virtual clock it keeps no time of its own (the clock runs as fast as the host
    allows); on a :class:`RealtimeClock` a :class:`WallClock` paces it.
    """

    def __init__(
        self,
        clock: VirtualClock,
        i2s: DwI2s,
        rate: int = 48000,
        channels: int = 2,
        bits: int = 16,
        source: Any = None,
        record: bool = True,
    ) -> None:
        self.clock, self.i2s = clock, i2s
        self.rate, self.channels, self.bits = rate, channels, bits
        self.source = source  # an array of frames, or a function n -> frames
        self.record = record
        self.chunks: list[np.ndarray] = []
        self.frames_played = 0
        self._src_pos = 0
        self._wall: WallClock | None = None
        self.stats = DeviceStats()

    def _tx_sink(self, frames: np.ndarray) -> None:
        self.frames_played += len(frames)
        if self.record:
            self.chunks.append(frames.copy())

    def _rx_source(self, n: int) -> np.ndarray:
        if callable(self.source):
            return np.asarray(self.source(n), np.int32).reshape(n, self.channels)
        if self.source is None:
            return np.zeros((n, self.channels), np.int32)
        chunk = np.asarray(self.source[self._src_pos : self._src_pos + n], np.int32)
        self._src_pos += n
        if len(chunk) < n:
            chunk = np.concatenate([chunk, np.zeros((n - len(chunk), self.channels), np.int32)])
        return chunk.reshape(n, self.channels)

    def start(self) -> None:
        self.i2s.connect(self.rate, self._tx_sink, self._rx_source)
        if isinstance(self.clock, RealtimeClock):
            self._wall = WallClock(self.clock)
            self._wall.start()

    def stop(self) -> None:
        if self._wall is not None:
            self._wall.stop()
            self._wall = None

    latency_frames = 0

    def recorded(self) -> np.ndarray:
        """Every frame played so far, as line sample values (int32)."""
        if not self.chunks:
            return np.zeros((0, self.channels), np.int32)
        return np.concatenate(self.chunks)

    def save_wav(self, path: str) -> None:
        """Write what the card received: 16-bit PCM for words up to 16 bits, else 32-bit
        with the word left-justified (as the card's int32 view)."""
        from scipy.io import wavfile

        wavfile.write(path, self.rate, line_to_device(self.recorded(), self.bits))

    @staticmethod
    def wav_source(path: str, bits: int) -> np.ndarray:
        """Capture frames from a PCM WAV (16 or 32 bit), as line values for ``bits``."""
        from scipy.io import wavfile

        _, data = wavfile.read(path)
        data = data.reshape(len(data), -1)
        if data.dtype not in (np.int16, np.int32):
            raise ValueError(f"{path}: capture source must be 16- or 32-bit PCM")
        return device_to_line(data, bits)


