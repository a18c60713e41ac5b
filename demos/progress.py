"""A progress line for a stream (name, position of the total, ETA, ring fill, xruns), or
with ``live`` the full view of :mod:`demos.live` (rich)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class StreamProgress:
    """``with StreamProgress(total_frames, rate) as p: p.update(done, fill, xruns)``.

    Drawn on stderr when it is a terminal; silent otherwise (or with ``enabled=False``).
    Updates are taken at most every 50 ms of the host's time: a writer calls once a
    period, which can be 20000 times a second on the virtual clock.

    Parameters
    ----------
    total, rate : int
        The stream's length in frames (0: unknown) and its rate.
    enabled : bool
        False draws nothing (``--no-progress``).
    name : str
        The file's name, shown first.
    live : callable, optional
        ``live(done, xruns)`` gives the :class:`demos.live.Snapshot` to draw (``--live``);
        where stderr is no terminal the plain line is drawn instead.
    console : rich Console, optional
        Where to draw (a recording console in tests); stderr by default.
    """

    def __init__(self, total: int, rate: int, enabled: bool = True, name: str = "",
                 live: Callable[[int, int], Any] | None = None,
                 console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        self.rate = rate
        self.total = total
        terminal = enabled and console.is_terminal
        self.live_source = live if terminal else None
        self.live: Live | None = None
        if self.live_source is not None:
            self.live = Live(console=console, refresh_per_second=20, transient=False)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[pos]}"), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("ring {task.fields[fill]:>4.0%}"),
            TextColumn("xruns {task.fields[xruns]}"),
            console=console, disable=not terminal or self.live is not None, transient=False)
        self.task = self.progress.add_task(name or "stream", total=max(total, 1), pos="",
                                           fill=0.0, xruns=0)
        self.shown = terminal
        self._next = 0.0

    def __enter__(self) -> StreamProgress:
        if self.live is not None:
            self.live.start()
        else:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
        else:
            self.progress.stop()

    def update(self, done: int, fill: float, xruns: int, final: bool = False) -> None:
        if not self.shown:
            return
        now = time.monotonic()
        if now < self._next and not final:
            return
        self._next = now + 0.05
        if self.live is not None and self.live_source is not None:
            from demos.live import render

            self.live.update(render(self.live_source(done, xruns)), refresh=True)
            return
        total = f" / {self.total / self.rate:.2f} s" if self.total else ""
        self.progress.update(self.task, completed=done,
                             pos=f"{done / self.rate:7.2f} s{total}", fill=fill, xruns=xruns)
