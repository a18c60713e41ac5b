"""``dma-audio --version``: the version, and which build of the model runs."""

from __future__ import annotations


def version_line() -> str:
    """``dma-audio 0.1.0, compiled (mypyc …)`` or ``dma-audio 0.1.0, pure Python (why)``."""
    from importlib.metadata import PackageNotFoundError, version

    from soc.compiled import build

    try:
        ver = version("dma-audio")
    except PackageNotFoundError:
        ver = "(not installed)"
    return f"dma-audio {ver}, {build()}"
