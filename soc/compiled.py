"""Which build runs: the hot modules compiled with mypyc, or the same source as Python.

Counterpart: none in the kernel. ``setup.py`` compiles :data:`MODULES` where a C compiler
is found and writes ``compiled.json`` beside this file: each module's source digest at
build time. :func:`guard` runs before any of them is imported (each package's
``__init__`` calls it). Where a source no longer matches its digest, or
``DMA_AUDIO_PURE=1`` is set, it puts a finder first on ``sys.meta_path`` that loads every
one of them from its ``.py``: a compiled module is never run in place of an edited
source, and compiled and interpreted modules never mix (mypyc's modules call each other
natively).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).with_name("compiled.json")
PURE_ENV = "DMA_AUDIO_PURE"

# The hot path: every module a period passes through, offline and in real time (the
# errors modules stay Python: mypyc cannot compile a subclass of OSError or RuntimeError).
MODULES = (
    "soc.clock", "soc.irq", "soc.bus", "soc.pl080", "soc.dw_i2s", "soc.endpoint",
    "soc.platform", "soc.board", "soc.faults", "soc.line_format", "soc.sound_device",
    "soc.device_pacer", "soc.portaudio", "soc.switch_interval", "soc.dma_request",
    "soc.pl330",
    "dma.core", "dma.cookie", "dma.tasklet", "dma.virt_dma", "dma.dmaengine",
    "dma.consumer", "dma.mapping", "dma.async_tx", "dma.dmatest",
    "dma.drivers.pl08x", "dma.drivers.pl330", "dma.drivers.adma",
    "pcm.runtime", "pcm.pcm_native", "pcm.pcm_lib", "pcm.params", "pcm.formats",
    "pcm.dmaengine_pcm", "pcm.dw_i2s_dai", "pcm.soc_pcm",
    "pcm.endpoint_codec", "pcm.simple_card", "pcm.pcm_trace", "pcm.alsa", "pcm.proc",
)

_state: str | None = None


def source(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extension(module: str, root: Path = ROOT) -> Path | None:
    base = source(module, root).with_suffix("")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        ext = base.with_name(base.name + suffix)
        if ext.exists():
            return ext
    return None


class _SourceFinder:
    """Loads the compiled modules from their ``.py``, as if no build existed."""

    @staticmethod
    def find_spec(fullname: str, path: object = None, target: object = None):
        if fullname in MODULES:
            return importlib.util.spec_from_file_location(fullname, source(fullname))
        return None


def decide(root: Path = ROOT, pure: bool = False) -> tuple[str, bool]:
    """The build's description, and whether the sources must be loaded instead."""
    built = [m for m in MODULES if _extension(m, root) is not None]
    if pure:
        return f"pure Python ({PURE_ENV} is set)", bool(built)
    if not built:
        return "pure Python (not compiled)", False
    try:
        recorded = json.loads((root / "soc" / MANIFEST.name).read_text())
        digests: dict[str, str] = recorded["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        return "pure Python (a compiled build without its manifest)", True
    missing = [m for m in MODULES if m not in digests or _extension(m, root) is None]
    if missing:
        return f"pure Python (the compiled build lacks {missing[0]})", True
    for m in MODULES:
        if digest(source(m, root)) != digests[m]:
            rel = source(m, root).relative_to(root)
            return (f"pure Python ({rel} changed since the compiled build; ./setup.sh "
                    "rebuilds it)"), True
    return f"compiled (mypyc {recorded.get('mypyc', '?')}, {len(MODULES)} modules)", False


def guard() -> None:
    """Decide once, before the first hot module is imported, which build runs."""
    global _state
    if _state is not None:
        return
    pure = os.environ.get(PURE_ENV, "") not in ("", "0")
    _state, to_source = decide(pure=pure)
    if to_source:
        sys.meta_path.insert(0, _SourceFinder())
        if not pure:  # a stale or partial build: say why the sources run
            print(f"dma-audio: running {_state}", file=sys.stderr)


def build() -> str:
    """What runs: "compiled (mypyc …)" or "pure Python (why)"."""
    guard()
    assert _state is not None
    if _state.startswith("compiled"):
        loaded = sys.modules.get("soc.clock")
        if loaded is not None and not str(getattr(loaded, "__file__", "")).endswith(
                tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return "pure Python (the compiled modules were not the ones loaded)"
    return _state


def is_compiled() -> bool:
    return build().startswith("compiled")
