"""The project's documents point only at what is in the repository: every linked or named
file exists, and every test a document names is defined where it says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(ROOT.glob("docs/*.md")) + [ROOT / "README.md"]
# a path of this repository, not the tail of a kernel path (sound/soc/soc-pcm.c)
PATH = r"(?<![\w/.-])((?:docs|tests|pcm|dma|soc|demos|scripts)/[\w./-]+\.(?:py|md))"


def _tests() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in ROOT.glob("tests/**/test_*.py"):
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.M):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_file_a_document_links_or_names_exists():
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for link in re.findall(r"\]\(([^)#\s]+)", text):
            if "://" not in link and not (doc.parent / link).exists():
                missing.append(f"{doc.name}: link {link}")
        for path in re.findall(PATH, text):
            if not (ROOT / path).exists():
                missing.append(f"{doc.name}: {path}")
    assert not missing, missing


def test_every_test_a_document_names_is_defined_where_it_says():
    tests = _tests()
    wrong = []
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            for m in re.finditer(r"`(test_\w+)`", line):
                name = m.group(1)
                if name not in tests:
                    wrong.append(f"{doc.name}: {name} is defined nowhere")
                    continue
                said = re.findall(r"(tests/[\w/]+\.py)", line[: m.start()])
                if said and said[-1] not in tests[name]:
                    wrong.append(f"{doc.name}: {name} is in {sorted(tests[name])}, not "
                                 f"{said[-1]}")
    assert not wrong, wrong


def test_no_file_points_to_a_document_the_repository_lacks():
    outside = re.compile(r"ARCHITECTURE\.md|KERNEL-SEMANTICS\.md|TESTING\.md|\.\./shared")
    hits = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
            if p.suffix in (".py", ".md", ".toml", ".sh", ".c") and ".venv" not in p.parts
            and ".git" not in p.parts and p.name != "test_docs.py"
            and outside.search(p.read_text(errors="replace"))]
    assert not hits, hits


def test_the_tours_commands_run_and_show_what_it_says(tmp_path):
    """Every command of docs/tour.md runs (but the slow-motion one, which takes its
    time on purpose), in a scratch directory, and the counts the tour quotes hold."""
    import os
    import subprocess
    import sys

    text = (ROOT / "docs" / "tour.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    bin_dir = Path(sys.executable).parent
    outputs = {}
    for block in blocks:
        for line in block.strip().splitlines():
            if "--speed" in line:
                continue
            cmd = line.replace(".venv/bin/", f"{bin_dir}/").replace(
                "scripts/", f"{ROOT}/scripts/")
            out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=300,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)))
            assert out.returncode == 0, (line, out.stderr[-2000:])
            outputs[line] = out.stdout
    assert outputs["grep -c irq_handler_entry trace.txt"].strip() == "141"
    irq = outputs["grep -m3 'hwptr.*IRQ' trace.txt"].splitlines()
    assert "IRQ: pos=1024, old=8, base=0, period=1024, buf=4096" in irq[0]
    assert "z == x: True" in outputs[".venv/bin/python scripts/fenced-copy.py"]
    assert "dma-pl330" in next(v for k, v in outputs.items() if "--dmac pl330" in k)
