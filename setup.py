"""Build: the hot modules compiled with mypyc where a C compiler works, else pure Python.

``DMA_AUDIO_PURE_BUILD=1`` skips the compiler. Whichever way it goes, the build says so;
``soc/compiled.json`` records each compiled module's source digest for the import guard
(soc/compiled.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import sysconfig
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_dma_audio_compiled", ROOT / "soc" / "compiled.py")
assert _spec is not None and _spec.loader is not None
compiled = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compiled)


def say(msg: str) -> None:
    print(f"dma-audio build: {msg}", file=sys.stderr)


def compiler_works() -> bool:
    """A C compiler that builds against this Python's headers."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        return False
    cc = new_compiler()
    customize_compiler(cc)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d, "probe.c")
        src.write_text("#include <Python.h>\nint main(void) { return 0; }\n")
        try:
            cc.compile([str(src)], output_dir=d,
                       include_dirs=[sysconfig.get_paths()["include"]])
        except Exception:
            return False
    return True


DIGESTS: dict[str, str] = {}


def remove_previous_build() -> None:
    """A pure-Python install leaves no compiled module of an earlier build behind."""
    (ROOT / "soc" / "compiled.json").unlink(missing_ok=True)
    for m in compiled.MODULES:
        for ext in compiled.source(m).parent.glob(compiled.source(m).stem + ".*.so"):
            ext.unlink()
    for lib in ROOT.glob("dma_audio__mypyc*.so"):
        lib.unlink()


def ext_modules() -> list:
    if not {"build_ext", "bdist_wheel", "editable_wheel", "build", "install"} & set(sys.argv):
        return []  # metadata only (egg_info, dist_info): nothing to compile
    if os.environ.get("DMA_AUDIO_PURE_BUILD", "") not in ("", "0"):
        say("DMA_AUDIO_PURE_BUILD is set: pure Python")
        remove_previous_build()
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        say("mypyc is not installed: pure Python")
        return []
    if not compiler_works():
        say("no working C compiler with Python's headers: pure Python")
        remove_previous_build()
        return []
    say(f"compiling {len(compiled.MODULES)} modules with mypyc (a minute or two)")
    # the digests of the sources as mypyc reads them now: an edit made while the C
    # compiles must leave the build stale, not recorded as current
    DIGESTS.update({m: compiled.digest(compiled.source(m)) for m in compiled.MODULES})
    paths = [str(compiled.source(m).relative_to(ROOT)) for m in compiled.MODULES]
    try:
        return mypycify(["--ignore-missing-imports", *paths], opt_level="3", debug_level="0",
                        group_name="dma_audio")
    except (Exception, SystemExit) as e:  # mypy's type errors end in SystemExit
        say(f"mypyc refused the sources ({e}): pure Python")
        remove_previous_build()
        return []


class BuildExt(build_ext):
    """build_ext that falls back to pure Python when compiling fails, and records the
    compiled sources' digests when it succeeds."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # a compiler that fails on the generated C
            say(f"compiling failed ({e}): pure Python")
            self._remove_built()
            return
        if self.extensions:
            import mypy.version

            out = Path(self.build_lib) if not self.inplace else ROOT
            manifest = {"mypyc": mypy.version.__version__, "modules": DIGESTS}
            target = out / "soc" / "compiled.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(manifest, indent=1) + "\n")
            say(f"compiled; digests in {target}")

    def _remove_built(self) -> None:
        for ext in self.extensions:
            path = Path(self.get_ext_fullpath(ext.name))
            if path.exists():
                path.unlink()
        remove_previous_build()


setup(ext_modules=ext_modules(), cmdclass={"build_ext": BuildExt})
