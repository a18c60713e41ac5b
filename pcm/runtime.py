"""PCM states, the runtime's pointers, and the avail arithmetic.

Counterpart: include/sound/pcm.h (``snd_pcm_runtime``, ``snd_pcm_playback_avail``,
``snd_pcm_capture_avail``) and the boundary computed in pcm_native.c. Pointers are in
frames and run from 0 to ``boundary - 1``; ``boundary`` is ``buffer_size`` doubled for as
long as it stays below the integer limit (LONG_MAX on a 64-bit kernel), so that
``hw_ptr`` and ``appl_ptr`` can be compared across many trips round the ring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

LONG_MAX = 2**63 - 1


class PcmState(IntEnum):
    OPEN = 0
    SETUP = 1
    PREPARED = 2
    RUNNING = 3
    XRUN = 4
    DRAINING = 5
    PAUSED = 6
    SUSPENDED = 7
    DISCONNECTED = 8


class PcmStream(IntEnum):
    PLAYBACK = 0
    CAPTURE = 1


def compute_boundary(buffer_size: int, limit: int = LONG_MAX) -> int:
    """The largest ``buffer_size * 2**k`` with ``boundary * 2 <= limit - buffer_size``."""
    boundary = buffer_size
    while boundary * 2 <= limit - buffer_size:
        boundary *= 2
    return boundary


@dataclass
class PcmRuntime:
    """``struct snd_pcm_runtime``: geometry, thresholds, pointers and state."""

    stream: PcmStream
    buffer_size: int
    period_size: int
    boundary: int = 0
    state: PcmState = PcmState.SETUP
    hw_ptr: int = 0
    appl_ptr: int = 0
    hw_ptr_base: int = 0
    hw_ptr_interrupt: int = 0
    hw_ptr_wrap: int = 0
    avail_min: int = 0
    start_threshold: int = 1
    stop_threshold: int = 0
    silence_threshold: int = 0
    silence_size: int = 0
    avail_max: int = 0
    xruns: int = 0
    log: list[str] = field(default_factory=list)
    # the configuration hw_params chose (0 before)
    format: int = 2  # SNDRV_PCM_FORMAT_*
    channels: int = 0
    rate: int = 0
    frame_bits: int = 0
    info: int = 0
    # silence bookkeeping (snd_pcm_playback_silence)
    silence_start: int = 0
    silence_filled: int = 0
    # frames between the ring and the listener, from the driver (snd_pcm_runtime.delay)
    delay: int = 0
    twake: int = 0  # frames the sleeping writer/reader waits for; 0 when none waits
    stop_operating: bool = False  # a trigger STOP or SUSPEND not yet synchronized (sync_stop)
    suspended_state: PcmState = PcmState.OPEN  # what SUSPENDED came from (resume goes back)
    trigger_tstamp_ns: int = 0
    hw_ptr_jiffies: int = 0  # when hw_ptr last moved (the double-interrupt check)
    hw_ptr_buffer_jiffies: int = 0
    # ``snd_pcm_avail``: playback_avail or capture_avail, bound once in __post_init__ (the
    # direction is fixed for the runtime's life, and avail is read several times a period)
    avail: Callable[[], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.boundary == 0:
            self.boundary = compute_boundary(self.buffer_size)
        if self.avail_min == 0:
            self.avail_min = self.period_size
        if self.stop_threshold == 0:
            self.stop_threshold = self.buffer_size
        playback = self.stream == PcmStream.PLAYBACK
        self.avail = self.playback_avail if playback else self.capture_avail

    def playback_avail(self) -> int:
        """Frames the application may write: ``hw_ptr + buffer_size - appl_ptr``, wrapped."""
        avail = self.hw_ptr + self.buffer_size - self.appl_ptr
        if avail < 0:
            avail += self.boundary
        elif avail >= self.boundary:
            avail -= self.boundary
        return avail

    def capture_avail(self) -> int:
        """Frames the application may read: ``hw_ptr - appl_ptr``, wrapped."""
        avail = self.hw_ptr - self.appl_ptr
        if avail < 0:
            avail += self.boundary
        return avail

    def hw_avail(self) -> int:
        """Frames queued for the hardware (playback) or room left (capture)."""
        return self.buffer_size - self.avail()
