"""hw_params: masks, intervals, the rules that tie them, refinement and the final choice.

Counterpart: ``struct snd_pcm_hw_params``, ``snd_interval`` and ``snd_mask`` (pcm_lib.c),
``snd_pcm_hw_constraints_init`` (the rules), ``snd_pcm_hw_refine`` (apply the rules until
nothing changes) and ``snd_pcm_hw_params_choose`` (pcm_native.c).

A parameter space is a :class:`HwParams`: two masks (ACCESS, FORMAT) and the intervals
SAMPLE_BITS .. BUFFER_BYTES. Refinement narrows every interval by the rules
``period_bytes = period_size * frame_bits / 8``, ``buffer_size = period_size * periods``,
``period_time = period_size * 1e6 / rate`` and the rest, with the interval arithmetic of
pcm_lib.c (open ends, ``integer``). An interval that empties raises :class:`ParamError`
naming it. Simplifications, stated: SUBFORMAT and TICK_TIME are left out (one subformat,
no ticks); the rules run round-robin until a fixed point instead of through the kernel's
dependency bookkeeping, which reaches the same fixed point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from pcm.errors import ParamError
from pcm.formats import BY_NUMBER, PcmFormat

UINT_MAX = 2**32 - 1

ACCESS_RW_INTERLEAVED = 3
ACCESS_NAMES = {ACCESS_RW_INTERLEAVED: "RW_INTERLEAVED"}

INTERVALS = (
    "SAMPLE_BITS", "FRAME_BITS", "CHANNELS", "RATE", "PERIOD_TIME", "PERIOD_SIZE",
    "PERIOD_BYTES", "PERIODS", "BUFFER_TIME", "BUFFER_SIZE", "BUFFER_BYTES",
)
MASKS = ("ACCESS", "FORMAT")


@dataclass
class Interval:
    """``struct snd_interval``: [min, max] with open ends and an integer flag."""

    min: int = 0
    max: int = UINT_MAX
    openmin: bool = False
    openmax: bool = False
    integer: bool = False

    def empty(self) -> bool:
        return self.min > self.max or (self.min == self.max and (self.openmin or self.openmax))

    def single(self) -> bool:
        return self.min == self.max or (self.min + 1 == self.max and (self.openmin or self.openmax))

    def value(self) -> int:
        """``snd_interval_value``: the one value of a single interval."""
        return self.max if self.openmin and not self.openmax else self.min

    def refine(self, v: Interval) -> bool:
        """``snd_interval_refine``: intersect with ``v``; True when narrowed."""
        changed = False
        if self.min < v.min:
            self.min, self.openmin, changed = v.min, v.openmin, True
        elif self.min == v.min and not self.openmin and v.openmin:
            self.openmin = changed = True
        if self.max > v.max:
            self.max, self.openmax, changed = v.max, v.openmax, True
        elif self.max == v.max and not self.openmax and v.openmax:
            self.openmax = changed = True
        if not self.integer and v.integer:
            self.integer = changed = True
        if self.integer:
            if self.openmin:
                self.min, self.openmin = self.min + 1, False
            if self.openmax:
                self.max, self.openmax = self.max - 1, False
        elif not self.openmin and not self.openmax and self.min == self.max:
            self.integer = True
        return changed

    def refine_first(self) -> None:
        last_max = self.max
        if self.single():
            return
        self.max = self.min + (1 if self.openmin else 0)
        self.openmax = self.openmax and self.max >= last_max

    def refine_last(self) -> None:
        last_min = self.min
        if self.single():
            return
        self.min = self.max - (1 if self.openmax else 0)
        self.openmin = self.openmin and self.min <= last_min

    def __str__(self) -> str:
        """As alsa-lib's ``snd_interval_print``: one number only for a single *integer*
        interval, so a ratio that falls between two integers, such as (3 4), shows as such."""
        if self.empty():
            return "NONE"
        if (self.min, self.openmin, self.max, self.openmax) == (0, False, UINT_MAX, False):
            return "ALL"
        if self.single() and self.integer:
            return str(self.value())
        lo = "(" if self.openmin else "["
        hi = ")" if self.openmax else "]"
        return f"{lo}{self.min} {self.max}{hi}"


def _sat(x: int) -> int:
    return min(x, UINT_MAX)


def mul(a: Interval, b: Interval) -> Interval:
    """``snd_interval_mul``: c = a * b."""
    return Interval(_sat(a.min * b.min), _sat(a.max * b.max), a.openmin or b.openmin,
                    a.openmax or b.openmax, a.integer and b.integer)


def div(a: Interval, b: Interval) -> Interval:
    """``snd_interval_div``: c = a / b."""
    c = Interval()
    if b.max == 0:
        c.min, c.openmin = UINT_MAX, False
    else:
        c.min, r = divmod(a.min, b.max)
        c.openmin = bool(r) or a.openmin or b.openmax
    if b.min > 0:
        c.max, r = divmod(a.max, b.min)
        if r:
            c.max, c.openmax = c.max + 1, True
        else:
            c.openmax = a.openmax or b.openmin
    return c


def muldivk(a: Interval, b: Interval, k: int) -> Interval:
    """``snd_interval_muldivk``: c = a * b / k."""
    c = Interval()
    c.min, r = divmod(a.min * b.min, k)
    c.min = _sat(c.min)
    c.openmin = bool(r) or a.openmin or b.openmin
    c.max, r = divmod(a.max * b.max, k)
    c.max = _sat(c.max)
    if r:
        c.max, c.openmax = _sat(c.max + 1), True
    else:
        c.openmax = a.openmax or b.openmax
    return c


def mulkdiv(a: Interval, k: int, b: Interval) -> Interval:
    """``snd_interval_mulkdiv``: c = a * k / b."""
    c = Interval()
    if b.max == 0:
        c.min, c.openmin = UINT_MAX, False
    else:
        c.min, r = divmod(a.min * k, b.max)
        c.min = _sat(c.min)
        c.openmin = bool(r) or a.openmin or b.openmax
    if b.min > 0:
        c.max, r = divmod(a.max * k, b.min)
        c.max = _sat(c.max)
        if r:
            c.max, c.openmax = _sat(c.max + 1), True
        else:
            c.openmax = a.openmax or b.openmin
    return c


@dataclass
class HwParams:
    """``struct snd_pcm_hw_params``: the space of configurations still possible."""

    masks: dict[str, set[int]] = field(default_factory=lambda: {
        "ACCESS": {ACCESS_RW_INTERLEAVED}, "FORMAT": set(BY_NUMBER)})
    intervals: dict[str, Interval] = field(
        default_factory=lambda: {name: Interval() for name in INTERVALS})
    info: int = 0
    fifo_size: int = 0  # frames, once format and channels are single

    def copy(self) -> HwParams:
        return HwParams({k: set(v) for k, v in self.masks.items()},
                        {k: dataclasses.replace(v) for k, v in self.intervals.items()},
                        self.info, self.fifo_size)

    def __getitem__(self, name: str) -> Interval:
        return self.intervals[name]

    def get(self, name: str) -> int:
        """The value of a parameter that refinement made single."""
        if name in MASKS:
            return min(self.masks[name])
        return self.intervals[name].value()

    @property
    def format(self) -> PcmFormat:
        return BY_NUMBER[self.get("FORMAT")]

    def set_mask(self, name: str, values: set[int]) -> None:
        """Keep only ``values`` in a mask; EINVAL naming it when none is left."""
        left = self.masks[name] & values
        if not left:
            raise ParamError(name, f"hw_params: {name} cannot be met (asked "
                             f"{describe_mask(name, values)}, possible {self.describe(name)})")
        self.masks[name] = left

    def set_minmax(self, name: str, lo: int, hi: int, integer: bool = False) -> bool:
        """``snd_pcm_hw_constraint_minmax`` / ``snd_pcm_hw_param_set``: narrow one interval."""
        i = self.intervals[name]
        before = str(i)
        changed = i.refine(Interval(lo, hi, integer=integer))
        if i.empty():
            want = str(lo) if lo == hi else f"[{lo} {hi}]"
            raise ParamError(name, f"hw_params: {name} cannot be met "
                             f"(asked {want}, possible {before})")
        return changed

    def describe(self, name: str) -> str:
        if name in self.masks:
            return describe_mask(name, self.masks[name])
        return str(self.intervals[name])


def describe_mask(name: str, values: set[int]) -> str:
    """A mask's values by name: formats and access types as ALSA names them."""
    names = {"FORMAT": {n: f.name for n, f in BY_NUMBER.items()}, "ACCESS": ACCESS_NAMES}
    return " ".join(names.get(name, {}).get(n, str(n)) for n in sorted(values))


# -- the rules of snd_pcm_hw_constraints_init --

Rule = Callable[[HwParams], Interval | None]


def _rule_sample_bits(p: HwParams) -> Interval:
    widths = [BY_NUMBER[n].phys for n in p.masks["FORMAT"]]
    return Interval(min(widths), max(widths)) if widths else Interval(1, 0)


def _rule_format(p: HwParams) -> None:
    sb = p["SAMPLE_BITS"]
    lo, hi = sb.min + sb.openmin, sb.max - sb.openmax
    keep = {n for n in p.masks["FORMAT"] if lo <= BY_NUMBER[n].phys <= hi}
    if not keep:
        raise ParamError("FORMAT", "hw_params: no sample format has the sample width "
                         f"{sb} that the other parameters need")
    p.masks["FORMAT"] = keep
    return None


RULES: list[tuple[str, Rule]] = [
    ("FORMAT", _rule_format),
    ("SAMPLE_BITS", _rule_sample_bits),
    ("SAMPLE_BITS", lambda p: div(p["FRAME_BITS"], p["CHANNELS"])),
    ("FRAME_BITS", lambda p: mul(p["SAMPLE_BITS"], p["CHANNELS"])),
    ("FRAME_BITS", lambda p: mulkdiv(p["PERIOD_BYTES"], 8, p["PERIOD_SIZE"])),
    ("FRAME_BITS", lambda p: mulkdiv(p["BUFFER_BYTES"], 8, p["BUFFER_SIZE"])),
    ("CHANNELS", lambda p: div(p["FRAME_BITS"], p["SAMPLE_BITS"])),
    ("RATE", lambda p: mulkdiv(p["PERIOD_SIZE"], 1000000, p["PERIOD_TIME"])),
    ("RATE", lambda p: mulkdiv(p["BUFFER_SIZE"], 1000000, p["BUFFER_TIME"])),
    ("PERIODS", lambda p: div(p["BUFFER_SIZE"], p["PERIOD_SIZE"])),
    ("PERIOD_SIZE", lambda p: div(p["BUFFER_SIZE"], p["PERIODS"])),
    ("PERIOD_SIZE", lambda p: mulkdiv(p["PERIOD_BYTES"], 8, p["FRAME_BITS"])),
    ("PERIOD_SIZE", lambda p: muldivk(p["PERIOD_TIME"], p["RATE"], 1000000)),
    ("BUFFER_SIZE", lambda p: mul(p["PERIOD_SIZE"], p["PERIODS"])),
    ("BUFFER_SIZE", lambda p: mulkdiv(p["BUFFER_BYTES"], 8, p["FRAME_BITS"])),
    ("BUFFER_SIZE", lambda p: muldivk(p["BUFFER_TIME"], p["RATE"], 1000000)),
    ("PERIOD_BYTES", lambda p: muldivk(p["PERIOD_SIZE"], p["FRAME_BITS"], 8)),
    ("BUFFER_BYTES", lambda p: muldivk(p["BUFFER_SIZE"], p["FRAME_BITS"], 8)),
    ("PERIOD_TIME", lambda p: mulkdiv(p["PERIOD_SIZE"], 1000000, p["RATE"])),
    ("BUFFER_TIME", lambda p: mulkdiv(p["BUFFER_SIZE"], 1000000, p["RATE"])),
]


def constraints_init(p: HwParams) -> None:
    """The integer flags ``snd_pcm_hw_constraints_init`` sets."""
    for name in ("SAMPLE_BITS", "FRAME_BITS", "CHANNELS", "BUFFER_SIZE", "BUFFER_BYTES"):
        p[name].integer = True


def refine(p: HwParams, extra: list[tuple[str, Rule]] | None = None) -> HwParams:
    """``snd_pcm_hw_refine``: apply the rules until nothing changes.

    ``extra`` are rules a driver added (``snd_pcm_hw_rule_add``), e.g. a list of rates.
    Raises :class:`ParamError` naming the first parameter that empties.
    """
    rules = RULES + (extra or [])
    for _ in range(1000):
        changed = False
        for name, rule in rules:
            if name in MASKS:
                before = set(p.masks[name])
                rule(p)
                changed |= p.masks[name] != before
                continue
            v = rule(p)
            i = p[name]
            was = str(i)
            if v is not None and i.refine(v):
                changed = True
            if i.empty():
                raise ParamError(name, f"hw_params: no {name} can meet the constraints "
                                 f"(was {was}, the rules ask {v})")
        if not changed:
            return p
    raise ParamError("hw_params", "hw_params: refinement did not settle")


def choose(p: HwParams, extra: list[tuple[str, Rule]] | None = None) -> HwParams:
    """``snd_pcm_hw_params_choose``: first access and format; minimal channels, rate and
    period time; then maximal buffer size; refining after each choice."""
    p.masks["ACCESS"] = {min(p.masks["ACCESS"])}
    p.masks["FORMAT"] = {min(p.masks["FORMAT"])}  # the first set bit: SNDRV_PCM_FORMAT_*
    refine(p, extra)
    for name in ("CHANNELS", "RATE", "PERIOD_TIME"):
        p[name].refine_first()
        refine(p, extra)
    p["BUFFER_SIZE"].refine_last()
    refine(p, extra)
    for name in INTERVALS:  # anything still open is taken at its minimum
        if not p[name].single():
            p[name].refine_first()
            refine(p, extra)
    return p


def list_rule(name: str, values: list[int]) -> tuple[str, Rule]:
    """``snd_pcm_hw_constraint_list``: the parameter takes one of ``values``."""

    def rule(p: HwParams) -> Interval:
        i = p[name]
        ok = [v for v in values if (i.min < v or (i.min == v and not i.openmin))
              and (v < i.max or (v == i.max and not i.openmax))]
        return Interval(min(ok), max(ok), integer=True) if ok else Interval(1, 0)

    return name, rule
