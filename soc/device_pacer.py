"""Playback on the sound device's clock, with the period interrupts spread over the time
between callbacks.

Counterpart: none in the kernel: how the model keeps hardware time moving with wall time
(docs/design-notes.md).
Context: the pacer thread runs the events and their bottom halves; the device's
callback moves only data.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from soc.clock import RealtimeClock, frame_at_ns, ns_at_frame
from soc.irq import irq_exit, run_softirqs_here


class DevicePacer:
    """Moves a :class:`RealtimeClock` between the callbacks of a playback-only card."""

    def __init__(self, clock: RealtimeClock, rate: int, origin_ns: int,
                 lead_blocks: int = 2) -> None:
        self.clock, self.rate, self.origin_ns = clock, rate, origin_ns
        self.lead_blocks = lead_blocks  # how far ahead of the card events run, in blocks
        self.ready: deque[np.ndarray] = deque()  # card samples the serializer shifted out
        self.ready_frames = 0
        self.catch_ups = 0  # callbacks that had to move the SoC through an event
        self.events = 0  # steps the pacer took to an event
        self._last_event = (0.0, 0)  # wall time and card frame of the last one
        self.block = 0  # frames of the last callback: the unit of the lead
        self._anchor = (0.0, 0)  # (wall time of the last callback, card frames after it)
        self._mover = threading.Lock()  # one mover of the SoC at a time
        self._kick = threading.Event()
        self._idle = True  # the pacer knows of no event to run: callbacks look for one
        self._stalled = False  # the pacer waits for the card's next callback
        self._closing = False
        self._worker = threading.Thread(target=self._run, name="card-pacer", daemon=True)
        self._worker.start()
        clock.present = self.present

    def _frame(self, t_ns: int) -> int:
        return frame_at_ns(t_ns - self.origin_ns, self.rate)

    def _card(self, anchor: tuple[float, int], now: float) -> int:
        """Where the card stands, by wall time since its last callback (``anchor``);
        never past the end of its next callback, so that a card that stops stops the SoC."""
        t_cb, base = anchor
        return base + min(int((now - t_cb) * self.rate), self.block)

    # -- the serializer's side --

    def put(self, samples: np.ndarray) -> None:
        """What the serializer shifted out, converted for the card (called in a step)."""
        self.ready.append(samples)
        self.ready_frames += len(samples)

    # -- the callback's side --

    def take(self, outdata: Any, card_frames: int) -> None:
        """Fill ``outdata`` with the frames that follow the first ``card_frames``."""
        frames = len(outdata)
        end = card_frames + frames
        if self.ready_frames < frames:
            self._fill(end, end + self.lead_blocks * frames)  # the lead's worth at once
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
        self._anchor = (time.monotonic(), end)
        if self._stalled or (self._idle and self.clock.next_event_ns() is not None):
            self._stalled = self._idle = False
            self._kick.set()

    def _fill(self, end: int, upto: int) -> None:
        """Move the SoC to at least card frame ``end`` and up to ``upto``, short of the
        next event; through it only if the pacer is late and it lies before ``end``."""
        end_ns = self.origin_ns + ns_at_frame(end, self.rate)
        with self._mover:
            if self.clock.now_ns >= end_ns:
                return
            self.clock.run_short_of_event(self.origin_ns + ns_at_frame(upto, self.rate))
            if self.clock.now_ns < end_ns:  # the pacer is late: run the event here
                self.catch_ups += 1
                self.clock.advance_frames(end, self.rate, self.origin_ns)

    def present(self) -> None:
        """Before a CPU-side write: move the SoC to where the card stands plus the lead,
        short of any event, so that what the write starts (a DMA channel, the
        transmitter) starts at the lead the interrupts run at.

        It never waits: the writer may hold a channel's lock that a top half inside a
        step needs. When the SoC is being moved (by another thread, or by this one: a
        top half's own writes), or this thread holds the hardware lock (a consistent
        read of several registers), the write lands where the hardware is."""
        block = self.block
        if not block or self.clock.hw_lock.held_here():
            return
        card = self._card(self._anchor, time.monotonic())
        target = self.origin_ns + ns_at_frame(card + self.lead_blocks * block, self.rate)
        if self.clock.now_ns >= target or not self._mover.acquire(blocking=False):
            return
        try:
            self.clock.run_short_of_event(target)
        finally:
            self._mover.release()

    # -- the pacer thread --

    def _run(self) -> None:
        run_softirqs_here()
        wait: float | None = None
        while True:
            if wait != 0.0:
                self._kick.wait(wait)
                self._kick.clear()
            if self._closing or self.clock.error is not None:
                return
            try:
                wait = self._next()
            except Exception as e:  # a fault in a step ends the stream, as in a callback
                self.clock.fail(e)
                return

    def _next(self) -> float | None:
        """Run the next event if the card has come within the lead of it; else how long
        to sleep (None: until a callback kicks)."""
        anchor = self._anchor  # read once: a callback may replace it meanwhile
        t_cb, base = anchor
        block = self.block
        nxt = self.clock.next_event_ns()
        if not block or nxt is None:
            self._idle = True  # the next callback that finds an event kicks
            return None
        frame = self._frame(nxt)
        due = frame - self.lead_blocks * block  # card frame to run it at
        now = time.monotonic()
        if self._card(anchor, now) < due:
            wait = t_cb + (due - base) / self.rate - now
            if wait <= 0.0:  # the card is late: wait for its callback
                self._stalled = True
                return None
            return wait
        # Overdue (the pacer woke late): the events that fell due meanwhile run at half
        # their spacing, not back to back, so the writer a bottom half woke runs before
        # the next; the lead covers the catching up.
        t_last, f_last = self._last_event
        gap = (frame - f_last) / (2 * self.rate) - (now - t_last)
        if gap > 0.0:
            return gap
        with self._mover:
            self.clock.step(nxt)
        self._last_event = (time.monotonic(), frame)
        self.events += 1
        irq_exit()  # the bottom halves of the interrupts the step raised
        return 0.0

    def stop(self) -> None:
        self._closing = True
        if self.clock.present == self.present:
            self.clock.present = None
        self._kick.set()
        if threading.current_thread() is not self._worker:
            self._worker.join(2.0)

    @property
    def lead_frames(self) -> int:
        """The most the serializer runs ahead of what the card was handed."""
        return (self.lead_blocks + 1) * self.block
