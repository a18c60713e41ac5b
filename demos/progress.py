"""A progress line for a stream: elapsed time, position, ring fill and xruns (rich)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class StreamProgress:
    """``with StreamProgress(total_frames, rate) as p: p.update(done, fill, xruns)``.

    Drawn on stderr when it is a terminal; silent otherwise (or with ``enabled=False``).
    Updates are taken at most every 50 ms of the host's time: a writer calls once a
    period, which can be 20000 times a second on the virtual clock."""

    def __init__(self, total: int, rate: int, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self.rate = rate
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[pos]}"), TextColumn("ring {task.fields[fill]:>4.0%}"),
            TextColumn("xruns {task.fields[xruns]}"),
            console=console, disable=not (enabled and console.is_terminal), transient=False)
        self.task = self.progress.add_task("stream", total=max(total, 1), pos="",
                                           fill=0.0, xruns=0)
        self.shown = not self.progress.disable
        self._next = 0.0

    def __enter__(self) -> StreamProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, done: int, fill: float, xruns: int, final: bool = False) -> None:
        if not self.shown:
            return
        now = time.monotonic()
        if now < self._next and not final:
            return
        self._next = now + 0.05
        self.progress.update(self.task, completed=done, pos=f"{done / self.rate:7.2f} s",
                             fill=fill, xruns=xruns)
