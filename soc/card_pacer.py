"""Playback on the card clock, spread over the time between the card's callbacks.

Counterpart: none in the kernel; this is how the model keeps hardware time moving with
wall time. A sound server asks for audio a block at a time (256 frames on JACK's default
cycle). Advancing the whole SoC by a block inside the callback compresses the block's
DMA requests, period interrupts and bottom halves into one burst: a ring no longer than
the block is then drained before the writer can run, which real hardware, consuming one
frame per sample period, never does.

For a playback-only stream the frames the card will ask for next are known in advance,
so a pacer thread moves the SoC as wall time passes: whenever the serializer is less
than a block ahead of where the card stands, it steps to the next event (period
boundary, LLI end), or ``lead_blocks`` blocks past the card when no event comes sooner.
What the serializer shifts out waits in ``ready``; each callback hands the next
``frames`` of it to PortAudio, a copy and no step. The lead stays between one and
``lead_blocks`` + 1 blocks, like a FIFO of nearly fixed depth: a longer or more variable
lead would move the interrupts' wall times against the card's (kselftest's timing check,
4 s of writes then a drain, came out 40 ms long with a lead of up to 4096 frames at
6000-frame periods). The card stays the master clock: where the card
stands is wall time since its last callback, never past the end of its next one, so a
card that stops calling stops the SoC within the lead; and a callback that finds too few
frames ready (the pacer was late) moves the SoC itself, as an unpaced card does.
Serializer frame ``i`` is still card frame ``i``; the price is up to ``lead_blocks`` + 1
blocks of output latency (16 ms on JACK's 256-frame cycle), as a deeper codec FIFO adds.

Capture frames exist only once a callback hands them in, so a stream that captures is
not paced: its callback moves the SoC.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from soc.clock import RealtimeClock, frame_at_ns, ns_at_frame


class CardPacer:
    """Moves a :class:`RealtimeClock` between the callbacks of a playback-only card."""

    def __init__(self, clock: RealtimeClock, rate: int, origin_ns: int,
                 lead_blocks: int = 2) -> None:
        self.clock, self.rate, self.origin_ns = clock, rate, origin_ns
        self.lead_blocks = lead_blocks  # how far past the card a step may go, in blocks
        self.ready: deque[np.ndarray] = deque()  # card samples the serializer shifted out
        self.ready_frames = 0
        self.catch_ups = 0  # callbacks that found too few frames ready and moved the SoC
        self.block = 0  # frames of the last callback: the lead, and the lead's bound
        self._anchor = (0.0, 0)  # (wall time of the last callback, card frames after it)
        self._mover = threading.Lock()  # one mover of the SoC at a time: pacer or callback
        self._kick = threading.Event()
        self._waiting = True  # the pacer sleeps until a callback kicks it
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="card-pacer", daemon=True)
        self._thread.start()

    def _soc_frames(self) -> int:
        return frame_at_ns(self.clock.now_ns - self.origin_ns, self.rate)

    def _advance(self, frames: int, notify: bool = True) -> None:
        """Move the SoC to ``frames`` card frames. The pacer does not notify the clock's
        waiters: what they wait for changes in bottom halves, which notify, and a wait
        on time alone looks again every 50 ms; waking the writer at every step cost
        more CPU than the step."""
        with self._mover:
            if self._soc_frames() < frames:
                if notify:
                    self.clock.advance_frames(frames, self.rate, self.origin_ns)
                else:
                    self.clock.run_until(self.origin_ns + ns_at_frame(frames, self.rate))

    # -- the serializer's side --

    def put(self, samples: np.ndarray) -> None:
        """What the serializer shifted out, converted for the card (called in a step)."""
        self.ready.append(samples)
        self.ready_frames += len(samples)

    # -- the callback's side --

    def take(self, outdata: Any, card_frames: int) -> None:
        """Fill ``outdata`` with the frames that follow the first ``card_frames``."""
        frames = len(outdata)
        if self.ready_frames < frames:
            self.catch_ups += 1
            self._advance(card_frames + frames)
        got = 0
        while got < frames and self.ready:
            head = self.ready[0]
            n = min(frames - got, len(head))
            outdata[got : got + n] = head[:n]
            if n == len(head):
                self.ready.popleft()
            else:
                self.ready[0] = head[n:]
            got += n
        self.ready_frames -= got
        if got < frames:  # only if the serializer was stopped mid-way; never expected
            outdata[got:] = 0
        self.block = frames
        self._anchor = (time.monotonic(), card_frames + frames)
        if self._waiting:
            self._waiting = False
            self._kick.set()

    # -- the pacer thread --

    def _run(self) -> None:
        wait: float | None = None
        while True:
            if wait != 0.0:
                self._kick.wait(wait)
                self._kick.clear()
            if self._closing or self.clock.error is not None:
                return
            t_cb, base = self._anchor
            block, rate = self.block, self.rate
            if not block:
                self._waiting, wait = True, None
                continue
            now = time.monotonic()
            # Where the card stands, by wall time since its last callback; never past the
            # end of its next callback, so that a card that stops stops the pacer.
            card = base + min(int((now - t_cb) * rate), block)
            soc = self._soc_frames()
            if soc - card >= block:  # the next callback finds a block ready: sleep
                wait = t_cb + (soc - block - base) / rate - now
                if wait <= 0.0:  # the card is late: wait for its callback
                    self._waiting, wait = True, block / rate
                continue
            try:  # one step: to the next event, or as far as the lead allows
                nxt = self.clock.next_event_ns()
                limit = card + self.lead_blocks * block
                at = limit if nxt is None else frame_at_ns(nxt - self.origin_ns, rate)
                self._advance(max(min(at, limit), card + 1), notify=False)
            except Exception as e:  # a fault in a step ends the stream, as in a callback
                self.clock.fail(e)
                return
            wait = 0.0

    def stop(self) -> None:
        self._closing = True
        self._kick.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(2.0)

    @property
    def lead_frames(self) -> int:
        """The most the serializer runs ahead of what the card was handed."""
        return (self.lead_blocks + 1) * self.block
