"""Choosing the far end and the clock, and building the board with sound."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from demos.ftrace import FtraceWriter
from demos.usage import UsageError
from pcm import alsa
from pcm.errors import PcmError
from pcm.runtime import PcmStream
from soc.board import make_audio_board
from soc.clock import RealtimeClock, VirtualClock
from soc.platform import PlatformBus
from soc.portaudio import default_device
from soc.sound_device import DeviceError


@dataclass
class Session:
    board: PlatformBus
    device: Any
    why: str
    clock_kind: str
    tracer: FtraceWriter | None = None

    @property
    def endpoint(self):
        return self.board.soc.hw["codec0"]

    @property
    def clock(self):
        return self.board.soc.clock

    def close(self) -> None:
        try:
            self.board.remove()
        finally:
            if self.tracer is not None:
                self.tracer.finish()
                for f in (self.tracer.out, self.tracer.json_out):
                    if f is not None:
                        f.close()

    def trace_to(self, path: str | None, json_path: str | None = None) -> None:
        """Write the run to ``path`` in ftrace's text format, and to ``json_path`` in the
        Chrome trace-event format (see :mod:`demos.ftrace`), until :meth:`close`."""
        files = []
        try:
            for p in (path, json_path):
                files.append(open(p, "w") if p is not None else None)  # closed by close()
        except OSError as e:
            for f in files:
                if f is not None:
                    f.close()
            raise UsageError(f"{e.filename}: {e.strerror}") from None
        self.tracer = FtraceWriter(files[0], self.clock, files[1])
        self.tracer.attach_board(self.board.soc)
        card, device = alsa.find_card("default")
        for stream in PcmStream:
            self.tracer.attach_pcm(card.pcm(device, stream))

    @contextmanager
    def loss_reported(self) -> Iterator[None]:
        """Report a lost sound device as the loss: once the far end went away the card
        is disconnected, so the PCM answers EBADFD to the call the disconnect woke and
        ENODEV to every call after; those become :class:`DeviceError` with the reason."""
        try:
            yield
        except PcmError as e:
            lost = self.endpoint.lost
            if lost is None:
                raise
            raise DeviceError(f"{lost}; the card is disconnected ({e.strerror})") from e


def resolve_device(arg: str | None, capture: bool = False) -> tuple[Any, str]:
    if arg is None:
        return default_device(capture)
    if arg == "virtual":
        return "virtual", "the virtual card, as asked"
    device: Any = int(arg) if arg.isdigit() else arg
    try:
        import sounddevice as sd

        info = sd.query_devices(device)
    except Exception as e:
        raise UsageError(f"no sound device {arg!r} ({str(e).splitlines()[0]}); "
                         "see 'dma-audio devices'") from None
    return info["index"], f"sound device {info['name']!r}, as asked"


def open_session(device_arg: str | None, clock_kind: str | None, capture: bool = False,
                 speed: float | None = None, **endpoint: Any) -> Session:
    device, why = resolve_device(device_arg, capture)
    virtual = device == "virtual"
    kind = clock_kind or ("wall" if virtual else "card")
    if kind == "card" and virtual:
        raise UsageError("--clock card needs a sound device; the virtual card runs on the "
                         "wall or virtual clock")
    if kind != "card" and not virtual:
        raise UsageError(f"--clock {kind} runs the virtual card; a sound device keeps its "
                         "own time (--clock card)")
    if endpoint.get("source") is not None and not virtual:
        raise UsageError("--source is what the virtual card hears; a sound device captures "
                         "its own input (use -D virtual, or leave out --source)")
    if speed is not None and kind != "virtual":
        raise UsageError("--speed slows the virtual clock down: it needs --clock virtual "
                         "(and the virtual card)")
    if speed is None or kind != "virtual":
        clock: VirtualClock = VirtualClock() if kind == "virtual" else RealtimeClock()
    else:  # slow motion: the virtual card on a clock paced at ``speed`` of wall time
        clock = RealtimeClock(speed)
        kind = f"virtual, slow motion x{speed:g}"
    board = make_audio_board(clock, device, **endpoint)
    board.populate()
    return Session(board, device, why, kind)
