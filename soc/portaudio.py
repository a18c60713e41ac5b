"""What the host's PortAudio offers: its devices, the default one, a float32 server, and
the exit handler sounddevice registers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def is_float_server(device: Any) -> bool:
    """JACK works in float32, and PortAudio's int16 <-> float conversions are not each
    other's inverse (x/32768 one way, x*32767 the other): talk float32 to it ourselves."""
    import sounddevice as sd

    info = sd.query_devices(device if device is not None else sd.default.device[1])
    return "JACK" in sd.query_hostapis(info["hostapi"])["name"]


def forget_exit_handler() -> None:
    """Unregister sounddevice's exit handler, which would wait at exit on a stream whose
    device is gone: a lost device then ends the program instead of hanging it."""
    import atexit

    import sounddevice as sd

    handler = getattr(sd, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)


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
