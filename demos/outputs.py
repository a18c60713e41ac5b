"""Outputs checked before a run: a file that cannot be made, or that is also an input,
is refused with one line before anything plays, so that no run is lost to it."""

from __future__ import annotations

import os
import stat

from demos.usage import UsageError


def check_output(path: str, inputs: tuple[str, ...] = ()) -> None:
    """Refuse, before the run, an output that cannot be made or that is an input."""
    if path == "-":
        return
    if not path:
        raise UsageError("an empty file name")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{path}: no such directory {parent}")
    for src in inputs:
        if src and src != "-" and os.path.exists(src) and os.path.exists(path) and \
                os.path.samefile(src, path):
            raise UsageError(f"{path}: is also an input ({src}); it would be overwritten")
    _probe(path)


def _probe(path: str) -> None:
    """Open ``path`` for writing without changing it, as the run would; a character
    device that is no terminal also takes one byte (/dev/full refuses it)."""
    existed = os.path.exists(path)
    try:
        with open(path, "ab") as f:
            if existed and stat.S_ISCHR(os.fstat(f.fileno()).st_mode) and not f.isatty():
                f.write(b"\0")
                f.flush()
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None
    finally:
        if not existed and os.path.exists(path):
            os.unlink(path)


def check_plot(path: str) -> None:
    """A picture matplotlib can write, by its file name's ending."""
    from matplotlib.figure import Figure

    kinds = Figure().canvas.get_supported_filetypes()
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if ext not in kinds:
        raise UsageError(f"{path}: not a picture matplotlib writes (its endings: "
                         f"{', '.join(sorted(kinds))})")
