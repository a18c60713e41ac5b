"""Which build runs: the guard against a stale compiled module, and ``--version``."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from soc import compiled

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _tree(tmp_path: Path, built: bool = True, manifest: bool = True) -> Path:
    """A source tree of the compiled modules (stand-in extensions beside them)."""
    digests = {}
    for m in compiled.MODULES:
        src = compiled.source(m, tmp_path)
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {m}\n")
        digests[m] = compiled.digest(src)
        if built:
            src.with_name(src.stem + SUFFIX).write_bytes(b"")
    if manifest:
        (tmp_path / "soc" / "compiled.json").write_text(
            json.dumps({"mypyc": "test", "modules": digests}))
    return tmp_path


def test_a_build_whose_sources_match_runs_compiled(tmp_path):
    state, to_source = compiled.decide(_tree(tmp_path))
    assert state.startswith("compiled (mypyc test, ") and not to_source


def test_an_edited_source_sends_every_module_to_its_py_and_names_the_file(tmp_path):
    root = _tree(tmp_path)
    compiled.source("pcm.pcm_lib", root).write_text("# edited\n")
    state, to_source = compiled.decide(root)
    assert to_source and "pcm/pcm_lib.py changed since the compiled build" in state


@pytest.mark.parametrize(("built", "manifest", "why", "to_source"), [
    (False, False, "not compiled", False),
    (True, False, "without its manifest", True),
])
def test_no_build_or_a_build_without_its_digests_runs_python(tmp_path, built, manifest, why,
                                                             to_source):
    state, redirect = compiled.decide(_tree(tmp_path, built, manifest))
    assert state.startswith("pure Python") and why in state and redirect == to_source


def test_a_missing_extension_or_the_pure_switch_runs_python(tmp_path):
    root = _tree(tmp_path)
    src = compiled.source("soc.bus", root)
    src.with_name(src.stem + SUFFIX).unlink()
    assert compiled.decide(root) == ("pure Python (the compiled build lacks soc.bus)", True)
    assert compiled.decide(_tree(tmp_path / "b"), pure=True)[0].endswith("is set)")


def _run(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(cwd),
                                                      **env})


WHICH = ("import soc.clock, pcm.pcm_native, soc.compiled as c; "
         "print(c.build()); print(soc.clock.__file__); print(pcm.pcm_native.__file__)")


@pytest.mark.skipif(not compiled.is_compiled(), reason="the compiled build is not installed")
def test_editing_a_copy_of_the_compiled_tree_runs_its_sources_not_the_stale_build(tmp_path):
    """End to end: a copy of the built tree runs compiled; after one source is edited it
    runs every hot module from its ``.py``, and says why on stderr."""
    copy = tmp_path / "tree"
    for part in ("soc", "dma", "pcm"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for lib in ROOT.glob(f"*__mypyc*{SUFFIX}"):
        shutil.copy(lib, copy)
    ran = _run(WHICH, copy)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0].startswith("compiled")
    assert all(f.endswith(SUFFIX) for f in ran.stdout.splitlines()[1:])
    clock = copy / "soc" / "clock.py"
    clock.write_text(clock.read_text() + "\n# an edit\n")
    ran = _run(WHICH, copy)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("pure Python (soc/clock.py changed")
    assert lines[1] == str(clock) and lines[2].endswith("pcm_native.py")
    assert "soc/clock.py changed since the compiled build" in ran.stderr


def test_the_pure_switch_loads_the_sources_whatever_is_built():
    ran = _run(WHICH, ROOT, DMA_AUDIO_PURE="1")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "pure Python (DMA_AUDIO_PURE is set)"
    assert lines[1].endswith("clock.py") and lines[2].endswith("pcm_native.py")


def test_version_says_which_build_runs():
    ran = subprocess.run([sys.executable, "-m", "demos.cli", "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("dma-audio ") and compiled.build() in ran.stdout


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI alone must run the compiled build")
def test_ci_runs_the_compiled_build():
    """setup.sh installs gcc and the Python headers, so CI's suite runs compiled: a
    silent fall back to pure Python would leave the compiled build untested."""
    assert compiled.is_compiled(), compiled.build()


def test_without_a_working_compiler_the_build_is_pure_python_and_says_so(tmp_path):
    """The install line for other machines: where no C compiler works, setup.py builds no
    extension, removes an earlier build's, and says so."""
    for part in ("soc", "dma", "pcm"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns(
            "__pycache__", "*.so", "compiled.json"))
    shutil.copy(ROOT / "setup.py", tmp_path)
    stale = compiled.source("soc.clock", tmp_path).with_name("clock" + SUFFIX)
    stale.write_bytes(b"")
    (tmp_path / "soc" / "compiled.json").write_text("{}")
    ran = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "CC": "/bin/false"})
    assert ran.returncode == 0, ran.stderr
    assert "no working C compiler with Python's headers: pure Python" in ran.stderr
    assert not list(tmp_path.rglob("*.so")) and not (tmp_path / "soc" / "compiled.json").exists()
    assert compiled.decide(tmp_path) == ("pure Python (not compiled)", False)
