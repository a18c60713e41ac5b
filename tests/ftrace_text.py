"""A reader of ftrace's text format (the ``trace`` file of tracefs), for the tests: the
header's column legend, then ``TASK-PID [CPU] FLAGS SECONDS: EVENT: MESSAGE`` lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

# four flag columns (irqs-off, need-resched, hardirq/softirq, preempt-depth): what every
# trace viewer reads (some viewers refuse the fifth, migrate-disable)
LINE = re.compile(r" *(?P<comm>.+?)-(?P<pid>\d+) +\[(?P<cpu>\d{3})\] "
                  r"(?P<flags>[dX.][Nnp.][hsHS.][0-9a-f.]) +"
                  r"(?P<sec>\d+)\.(?P<usec>\d{6}): (?P<event>\w+): (?P<msg>.*)")
LEGEND = "#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION"


@dataclass
class Event:
    comm: str
    pid: int
    cpu: int
    flags: str
    us: int  # microseconds
    name: str
    msg: str

    @property
    def hardirq(self) -> bool:
        return self.flags[2] in "hH"

    @property
    def softirq(self) -> bool:
        return self.flags[2] in "sS"


def parse(text: str) -> list[Event]:
    """Every event of a trace; AssertionError at the first line that is neither a
    comment of the header nor an event line."""
    lines = text.splitlines()
    assert lines[0] == "# tracer: nop", lines[0]
    assert LEGEND in lines, "no column legend"
    out = []
    for line in lines:
        if line.startswith("#"):
            continue
        m = LINE.fullmatch(line)
        assert m, f"not an ftrace line: {line!r}"
        out.append(Event(m["comm"], int(m["pid"]), int(m["cpu"]), m["flags"],
                         int(m["sec"]) * 1_000_000 + int(m["usec"]), m["event"], m["msg"]))
    return out
