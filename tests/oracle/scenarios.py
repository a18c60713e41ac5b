"""Scenarios: sequences of PCM operations, as data, run alike by the guest and the model.

A step is a tuple ``(op, *args)``: ``("hw", FORMAT, CHANNELS, RATE, PERIOD, BUFFER)``,
``("sw", AVAIL_MIN, START, STOP, SILENCE_THRESHOLD, SILENCE_SIZE)`` (``BOUNDARY`` for the
boundary), ``("prepare",)``, ``("start",)``, ``("write", N)``, ``("read", N)``,
``("sleep", US)``, ``("status",)``, ``("delay",)``, ``("avail",)``, ``("hwsync",)``,
``("drain",)``, ``("drop",)``, ``("pause", 0|1)``, ``("reset",)``, ``("forward", N)``,
``("close",)``. :func:`to_text` gives probe.c's input. :data:`FIXED` covers each state
transition and each errno of the states table; :func:`generated` draws more from a
seeded generator (edges weighted, each scenario reproducible from the seed and its index
alone), within what both the guest's cards (snd-dummy, snd-aloop) and the model's
hardware accept: S16_LE stereo, rates of both, periods of 2 to 50 ms (rings of 20 ms at
least on snd-aloop, whose jiffies timer lets a smaller one run dry by itself).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

BOUNDARY = -1
RATES = [8000, 22050, 44100, 48000]


@dataclass(frozen=True)
class Scenario:
    name: str
    card: str  # "dummy" (snd-dummy, hrtimer) or "aloop" (snd-aloop: PAUSE, jiffies)
    stream: str  # "p" or "c"
    nonblock: bool
    steps: tuple[tuple, ...]


def to_text(scenarios: list[Scenario]) -> str:
    from tests.oracle.guest import CARDS

    lines = []
    for sc in scenarios:
        lines.append(f"S {sc.name} {CARDS[sc.card]} {int(sc.stream == 'c')} {int(sc.nonblock)}")
        lines += [" ".join(str(a) for a in step) for step in sc.steps]
        lines.append("E")
    return "\n".join(lines) + "\n"


def _setup(period: int = 1024, periods: int = 4, rate: int = 48000, avail_min: int = 1024,
           start: int = 4096, stop: int = 4096) -> tuple[tuple, ...]:
    return (("hw", "S16_LE", 2, rate, period, period * periods),
            ("sw", avail_min, start, stop, 0, 0), ("prepare",))


def _fixed() -> list[Scenario]:
    s = _setup()
    p, c = "p", "c"
    table = {
        # OPEN: everything but hw_params is EBADFD
        "open_ops": ("aloop", p, True, (("sw", 1, 1, 1, 0, 0), ("prepare",), ("start",),
                                        ("write", 16), ("drain",), ("drop",), ("status",),
                                        ("delay",), ("reset",), ("pause", 1), ("close",))),
        "hw_refused": ("dummy", p, True, (("hw", "S16_LE", 2, 4000, 1024, 4096),
                                          ("hw", "S16_LE", 9, 48000, 1024, 4096),
                                          ("hw", "S16_LE", 2, 48000, 1024, 200000),
                                          ("hw", "S16_LE", 2, 48000, 1024, 4096),
                                          ("hw", "S16_LE", 2, 4000, 1024, 4096),
                                          ("prepare",), ("close",))),
        "sw_refused": ("dummy", p, True, (s[0], ("sw", 0, 1, 4096, 0, 0),
                                          ("sw", 1, 1, 4096, 100, 200),
                                          ("sw", 1, 1, 4096, 5000, 0),
                                          ("sw", 1, 1, 4096, 5, BOUNDARY),
                                          ("sw", 1, 1, 4096, 0, BOUNDARY), ("close",))),
        # SETUP: start, write, drain answer EBADFD; drop is a no-op
        "setup_ops": ("aloop", p, True, (s[0], s[1], ("start",), ("write", 64),
                                         ("drain",), ("drop",), ("delay",), ("avail",),
                                         ("pause", 1), ("reset",), ("forward", 16),
                                         ("close",))),
        # PREPARED → RUNNING at the start threshold, a full ring → EAGAIN
        "start_threshold": ("dummy", p, True, s + (("write", 1500), ("status",),
                                                   ("write", 4096), ("status",),
                                                   ("write", 64), ("drop",), ("close",))),
        # an underrun at the stop threshold: EPIPE, then prepare recovers
        "underrun": ("dummy", p, True, s + (("write", 4096), ("sleep", 200_000),
                                            ("status",), ("write", 256), ("avail",),
                                            ("delay",), ("prepare",), ("write", 256),
                                            ("drop",), ("close",))),
        "start_explicit": ("dummy", p, True, _setup(start=BOUNDARY) + (
            ("write", 2048), ("status",), ("start",), ("start",), ("sleep", 10_000),
            ("avail",), ("drop",), ("start",), ("close",))),
        "start_empty": ("dummy", p, True, s + (("start",), ("status",), ("drop",),
                                               ("close",))),
        "drain_blocking": ("dummy", p, False, _setup(start=1) + (
            ("write", 1024), ("drain",), ("status",), ("drain",), ("write", 16),
            ("close",))),
        "drain_nonblock": ("dummy", p, True, s + (("write", 4096), ("drain",),
                                                  ("status",), ("write", 16),
                                                  ("sleep", 150_000), ("status",),
                                                  ("drain",), ("close",))),
        "drain_prepared_empty": ("dummy", p, False, s + (("drain",), ("status",),
                                                         ("close",))),
        "drain_prepared_data": ("dummy", p, False, s + (("write", 100), ("drain",),
                                                        ("status",), ("close",))),
        "drop_running": ("dummy", p, True, s + (("write", 4096), ("drop",), ("drain",),
                                                ("write", 16), ("prepare",), ("close",))),
        "reset_forward": ("dummy", p, True, s + (("write", 1000), ("reset",), ("avail",),
                                                 ("forward", 500), ("avail",),
                                                 ("forward", 9000), ("status",),
                                                 ("close",))),
        "pause": ("aloop", p, True, s + (("write", 4096), ("pause", 1), ("pause", 1),
                                         ("sleep", 20_000), ("status",), ("write", 16),
                                         ("pause", 0), ("pause", 0), ("drop",),
                                         ("pause", 1), ("close",))),
        "pause_drain": ("aloop", p, False, s + (("write", 4096), ("pause", 1),
                                                ("drain",), ("status",), ("close",))),
        "pause_prepared": ("aloop", p, True, s + (("pause", 1), ("write", 16),
                                                  ("pause", 1), ("close",))),
        "stop_boundary": ("dummy", p, True, _setup(stop=BOUNDARY) + (
            ("write", 4096), ("sleep", 150_000), ("status",), ("avail",), ("write", 64),
            ("drop",), ("close",))),
        "capture": ("dummy", c, True, _setup(start=1) + (
            ("read", 0), ("status",), ("read", 256), ("sleep", 30_000), ("read", 4096),
            ("avail",), ("drain",), ("status",), ("read", 16), ("close",))),
        "capture_overrun": ("dummy", c, True, _setup(start=1) + (
            ("start",), ("sleep", 200_000), ("status",), ("read", 64), ("prepare",),
            ("close",))),
        # RUNNING: prepare EBUSY, hw_params EBADFD, pause release EBADFD, sw_params allowed
        "running_ops": ("aloop", p, True, s + (("write", 4096), ("prepare",),
                                               ("hw", "S16_LE", 2, 48000, 1024, 4096),
                                               ("pause", 0), ("sw", 1, 1, 4096, 0, 0),
                                               ("start",), ("reset",), ("avail",),
                                               ("drop",), ("close",))),
        # XRUN: transfers and the pointer calls EPIPE; drain and drop end in SETUP
        "xrun_ops": ("aloop", p, True, s + (("write", 4096), ("sleep", 200_000),
                                            ("hwsync",), ("pause", 1), ("start",),
                                            ("reset",), ("forward", 16), ("drain",),
                                            ("prepare",), ("write", 4096),
                                            ("sleep", 200_000), ("drop",), ("close",))),
        # DRAINING: a playback refuses writes and pause; drop ends it
        "draining_ops": ("dummy", p, True, s + (("write", 4096), ("drain",),
                                                ("write", 16), ("prepare",), ("start",),
                                                ("reset",), ("status",), ("drop",),
                                                ("close",))),
        "capture_draining": ("dummy", c, True, _setup(start=1) + (
            ("start",), ("sleep", 50_000), ("drain",), ("hwsync",), ("avail",),
            ("read", 8192), ("status",), ("read", 16), ("close",))),
        "capture_pause": ("aloop", c, True, _setup(start=1) + (
            ("start",), ("pause", 1), ("read", 16), ("pause", 0), ("drop",),
            ("close",))),
    }
    return [Scenario(name, card, stream, nb, steps)
            for name, (card, stream, nb, steps) in table.items()]


FIXED = _fixed()


class Draw:
    """Seeded draws for :func:`scenario`, the ends of each range weighted as a search's are.

    Hypothesis' engine is not used here: it mixes constants from the loaded modules into
    its draws, so the same seed gave other scenarios in another process."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def integers(self, lo: int, hi: int) -> int:
        edge = self.rng.random()
        if edge < 0.1:
            return lo
        if edge < 0.2:
            return hi
        return self.rng.randint(lo, hi)

    def sampled_from(self, choices):
        return self.rng.choice(list(choices))

    def booleans(self) -> bool:
        return self.rng.random() < 0.5


def scenario(draw: Draw, name: str) -> Scenario:
    """One scenario: a geometry both sides take, sw_params, then 3 to 12 operations."""
    card = draw.sampled_from(["dummy", "aloop"])
    stream = draw.sampled_from(["p", "p", "c"])
    nonblock = draw.booleans()
    rate = draw.sampled_from(RATES)
    period = draw.integers(max(32, rate // 500), rate // 20)
    periods = draw.integers(2, 8)
    if card == "aloop":  # a jiffies timer (4 ms): a ring of under 20 ms xruns by itself
        least = -(-rate // 50)
        periods = min(8, max(periods, -(-least // period)))
        period = max(period, -(-least // periods))
    buffer = period * periods
    if buffer > 16384:  # snd-dummy's 64 KiB
        periods = max(2, 16384 // period)
        buffer = period * periods
    steps: list[tuple] = [("hw", "S16_LE", 2, rate, period, buffer)]
    blocking = not nonblock
    if draw.integers(0, 9):
        start = draw.sampled_from([1, period, buffer, BOUNDARY, -2])
        if start == -2:
            start = draw.integers(1, buffer)
        if blocking and (start == BOUNDARY or stream == "c"):
            start = 1 if stream == "c" else buffer  # a blocking transfer must end
        stop = draw.sampled_from([buffer, buffer, BOUNDARY, -2])
        if stop == -2:
            stop = draw.integers(1, buffer)
        sil = draw.sampled_from([(0, 0), (0, 0), (0, BOUNDARY), (-2, -2)])
        if sil == (-2, -2):
            th = draw.integers(0, buffer)
            sil = (th, draw.integers(0, th))
        steps.append(("sw", draw.integers(1, buffer), start, stop, *sil))
    if draw.integers(0, 9):
        steps.append(("prepare",))
    buffer_us = buffer * 1_000_000 // rate
    paused = False
    for _ in range(draw.integers(3, 12)):
        kind = draw.sampled_from(
            ["xfer", "xfer", "xfer", "sleep", "sleep", "status", "delay", "avail", "hwsync",
             "drain", "drop", "pause", "reset", "forward", "start", "prepare"])
        if kind == "xfer":
            if blocking and paused:
                kind = "status"  # a blocking transfer on a paused stream never ends
            else:
                steps.append(("write" if stream == "p" else "read",
                              draw.integers(0, buffer)))
                continue
        if kind == "sleep":
            steps.append(("sleep", draw.integers(0, min(2 * buffer_us, 150_000))))
        elif kind == "forward":
            steps.append(("forward", draw.integers(0, buffer)))
        elif kind == "pause":
            if card == "aloop":  # snd-dummy has no SNDRV_PCM_INFO_PAUSE
                push = draw.integers(0, 1)
                paused = paused or bool(push)
                steps.append(("pause", push))
        else:
            if kind in ("drop", "prepare", "drain"):
                paused = False
            steps.append((kind,))
    steps.append(("close",))
    return Scenario(name, card, stream, nonblock, tuple(steps))


def generated(count: int, seed: int) -> list[Scenario]:
    """``count`` scenarios, scenario ``gI`` drawn from ``seed`` and ``I`` alone."""
    return [scenario(Draw(f"{seed}:{i}"), f"g{i}") for i in range(max(count, 0))]
