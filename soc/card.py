"""The far end of the I2S bus: a real sound card through sounddevice, or the virtual card.

Counterpart: the codec and whatever is behind it. On a board the codec is bit-clock
master; here the sound card is: each PortAudio callback for ``frames`` frames advances
the whole SoC by exactly that many sample periods (:meth:`RealtimeClock.advance_frames`),
and the frames the I2S serializer shifted out during that advance are what the callback
hands to PortAudio. Capture is the mirror: the frames PortAudio hands in are what the
serializer shifts into the RX FIFO. Nothing else keeps time, so nothing can drift.
A playback-only stream is paced (:mod:`soc.card_pacer`): the SoC runs a fixed lead ahead
of the card, a pacer thread runs its events as wall time passes, and the callback hands
out what the serializer shifted; frame ``i`` is still frame ``i``.

The callback never blocks on the CPU side: it moves the hardware (taking the hardware
lock for the length of a step), runs the DMA top half, and returns. Bottom halves run on
the CPU worker thread.

A device that goes away (PortAudio ends the stream, or no callback comes for
``watchdog_s``) is reported once, to ``on_lost`` in a thread of its own (the endpoint's
:meth:`~soc.endpoint.Endpoint.lose`, which has the card disconnected), or, with none, as
the clock's failure.

PortAudio's dithering and clipping are off: a bit-exact path must stay bit-exact through a
float32 server such as JACK.

Line samples are int32 values of the I2S word; the card gets them as int16 for words of
16 bits or less, and as int32, left-justified, for longer words (exact for 24-in-32). A
JACK device gets float32 scaled by a power of two (exact up to 24-bit words).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soc.card_pacer import CardPacer
from soc.clock import RealtimeClock, VirtualClock, WallClock
from soc.dw_i2s import DwI2s


class CardError(RuntimeError):
    """The sound device failed: it could not be opened, or it went away."""


def card_dtype(bits: int, float_card: bool = False) -> str:
    if float_card:
        return "float32"
    return "int16" if bits <= 16 else "int32"


def line_to_card(frames: np.ndarray, bits: int, float_card: bool = False) -> np.ndarray:
    if float_card:  # a power-of-two scale: exact in float32 up to 24-bit words
        return (frames.astype(np.float64) / (1 << (bits - 1))).astype(np.float32)
    if bits <= 16:
        return (frames << (16 - bits)).astype(np.int16)
    return (frames.astype(np.int32) << (32 - bits)).astype(np.int32)


def card_to_line(data: np.ndarray, bits: int, float_card: bool = False) -> np.ndarray:
    if data.dtype.kind == "f" or float_card:
        scaled = np.rint(data.astype(np.float64) * (1 << (bits - 1)))
        return np.clip(scaled, -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype(np.int32)
    shift = (16 if bits <= 16 else 32) - bits
    return data.astype(np.int32) >> shift


def _is_float_server(device: Any) -> bool:
    """JACK works in float32, and PortAudio's int16 <-> float conversions are not each
    other's inverse (x/32768 one way, x*32767 the other): talk float32 to it ourselves."""
    import sounddevice as sd

    info = sd.query_devices(device if device is not None else sd.default.device[1])
    return "JACK" in sd.query_hostapis(info["hostapi"])["name"]


class SwitchInterval:
    """The interpreter's switch interval, held at most ``limit_s`` while a card runs.

    The card's callback runs on PortAudio's thread and must take the GIL from whichever
    of the model's threads holds it (the pacer in a step, the writer in ``writei``).
    CPython lets a thread that wants the GIL wait up to the switch interval before it
    makes the holder let go: 5 ms by default, nearly a whole 256-frame JACK cycle. The
    callback waits so at its start and again wherever it lets the GIL go inside (a lock
    it blocks on, a numpy copy). 1 ms bounds each wait; the holder is interrupted that
    often only while another thread waits. Counted, so nested holders restore it once.
    """

    def __init__(self, limit_s: float = 0.001) -> None:
        self.limit_s = limit_s
        self._holders = 0
        self._saved = 0.0
        self._lock = threading.Lock()

    def hold(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, self.limit_s))
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                sys.setswitchinterval(self._saved)


switch_interval = SwitchInterval()


@dataclass
class CardStats:
    callbacks: int = 0
    frames: int = 0
    output_underflows: int = 0  # PortAudio's own flags, not I2S FIFO underruns
    underflow_frames: list[int] = field(default_factory=list)  # card frame of each one
    input_overflows: int = 0
    errors: list[str] = field(default_factory=list)


class SoundDeviceCard:
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
        on_lost: Callable[[CardError], None] | None = None,
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
        self.lost: CardError | None = None
        self._lost_lock = threading.Lock()  # the watchdog and the finished callback may race
        self.stats = CardStats()
        self.stream: Any = None
        self._callback_abort: type[Exception] = RuntimeError  # sd.CallbackAbort once started
        self.float_card = False
        self.origin_ns = 0
        self._out: np.ndarray | None = None
        self._in: np.ndarray | None = None
        self._out_pos = self._in_pos = 0
        self._closing = False
        self._last_callback = 0.0
        self._watchdog: threading.Thread | None = None
        self._stream_latency = 0  # PortAudio's latency in frames, fixed once it is open
        self.paced = paced
        self.pacer: CardPacer | None = None
        self._holds_switch_interval = False

    # -- the I2S side --

    def _tx_sink(self, frames: np.ndarray) -> None:
        if self.pacer is not None:
            self.pacer.put(line_to_card(frames, self.bits, self.float_card))
            return
        out = self._out
        if out is None:
            return
        n = min(len(frames), len(out) - self._out_pos)
        out[self._out_pos : self._out_pos + n] = line_to_card(frames[:n], self.bits,
                                                              self.float_card)
        self._out_pos += n

    def _rx_source(self, n: int) -> np.ndarray:
        data = self._in
        if data is None:
            return np.zeros((n, self.channels), np.int32)
        chunk = data[self._in_pos : self._in_pos + n]
        self._in_pos += n
        if len(chunk) < n:
            chunk = np.concatenate([chunk, np.zeros((n - len(chunk), self.channels), chunk.dtype)])
        return card_to_line(chunk, self.bits)

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
            self.float_card = _is_float_server(self.device)
        except (sd.PortAudioError, ValueError) as e:
            raise CardError(f"cannot open sound device {self.device!r}: {e}") from None
        dtype = card_dtype(self.bits, self.float_card)
        kw = dict(device=self.device, samplerate=self.rate, channels=self.channels,
                  dtype=dtype, blocksize=self.blocksize, latency=self.latency,
                  finished_callback=self._finished, dither_off=True, clip_off=True)
        self.origin_ns = self.clock.now_ns
        if self.paced and self.playback and not self.capture:
            self.pacer = CardPacer(self.clock, self.rate, self.origin_ns)
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
            raise CardError(f"cannot open sound device {self.device!r}: {e}") from None
        self._watchdog = threading.Thread(target=self._watch, name="card-watchdog", daemon=True)
        self._watchdog.start()

    def _finished(self) -> None:
        if not self._closing:
            self._lose(CardError("the sound device stopped the stream (server gone?)"))

    def _watch(self) -> None:
        while not self._closing:
            time.sleep(0.1)
            if self._closing:
                return
            if time.monotonic() - self._last_callback > self.watchdog_s:
                self._lose(CardError(
                    f"no callback from the sound device for {self.watchdog_s:g} s "
                    "(device lost or server gone)"))
                return

    def _lose(self, error: CardError) -> None:
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
            # PortAudio's own exit handler would wait on the same dead stream at exit:
            # skip it, so that a lost device ends the program instead of hanging it.
            import atexit

            import sounddevice as sd

            handler = getattr(sd, "_exit_handler", None)
            if handler is not None:
                atexit.unregister(handler)


class VirtualCard:
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
        self.stats = CardStats()

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

        wavfile.write(path, self.rate, line_to_card(self.recorded(), self.bits))

    @staticmethod
    def wav_source(path: str, bits: int) -> np.ndarray:
        """Capture frames from a PCM WAV (16 or 32 bit), as line values for ``bits``."""
        from scipy.io import wavfile

        _, data = wavfile.read(path)
        data = data.reshape(len(data), -1)
        if data.dtype not in (np.int16, np.int32):
            raise ValueError(f"{path}: capture source must be 16- or 32-bit PCM")
        return card_to_line(data, bits)


@dataclass
class DeviceInfo:
    index: int | str
    name: str
    hostapi: str
    max_output_channels: int
    max_input_channels: int
    default_samplerate: float
    default_output: bool = False
    default_input: bool = False


def list_devices() -> list[DeviceInfo]:
    """Every PortAudio device with its host API, channels and default rate, then the
    virtual card. An unusable PortAudio (no library) lists the virtual card alone."""
    rows: list[DeviceInfo] = []
    try:
        import sounddevice as sd

        apis = sd.query_hostapis()
        d_in, d_out = sd.default.device
        for dev in sd.query_devices():
            rows.append(DeviceInfo(
                dev["index"], dev["name"], apis[dev["hostapi"]]["name"],
                dev["max_output_channels"], dev["max_input_channels"],
                dev["default_samplerate"], dev["index"] == d_out, dev["index"] == d_in))
    except (OSError, ImportError):
        pass
    rows.append(DeviceInfo("virtual", "dma-audio virtual card", "built-in", 8, 8, 48000.0))
    return rows


def default_device(capture: bool = False) -> tuple[Any, str]:
    """The device ``play`` (or ``capture``) uses without -D, and why: PortAudio's default
    output (input) device when it has one, else the virtual card."""
    kind = "input" if capture else "output"
    try:
        import sounddevice as sd

        idx = sd.default.device[0 if capture else 1]
        if idx is not None and idx >= 0:
            info = sd.query_devices(idx)
            if info[f"max_{kind}_channels"] > 0:
                return idx, f"PortAudio's default {kind} device {info['name']!r}"
    except (OSError, ImportError) as e:
        return "virtual", f"no usable PortAudio ({e}); using the virtual card"
    except Exception as e:  # PortAudioError when nothing is there
        return "virtual", f"no default {kind} device ({e}); using the virtual card"
    return "virtual", f"no default {kind} device; using the virtual card"


def default_output_device() -> tuple[Any, str]:
    return default_device(capture=False)
