"""The guest: Debian's kernel booted in QEMU with an initramfs that runs the probe.

Fetches Debian's ``linux-image-amd64`` (resolved to its versioned package through
``apt-cache depends``) and ``busybox-static`` with ``apt-get download`` and unpacks them
into a cache (nothing is installed on the host); builds ``probe.c`` with ``gcc -static``;
writes a newc initramfs whose ``/init`` loads soundcore, snd, snd-timer, snd-pcm,
snd-dummy (``hrtimer=1``, card 0) and snd-aloop (card 1) in the order their ``depends=``
give, runs the probe on the scenarios and powers off. QEMU runs under TCG (a KVM guest
was seen to hang). The probe's lines are the serial console's lines that begin ``@@ ``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dma-audio-oracle"
MODULES = ["soundcore", "snd", "snd-timer", "snd-pcm", "snd-dummy", "snd-aloop"]
MODULE_ARGS = {"snd-dummy": "hrtimer=1 index=0", "snd-aloop": "index=1"}
CARDS = {"dummy": 0, "aloop": 1}
QEMU = "qemu-system-x86_64"


class GuestUnavailable(Exception):
    """What the guest needs and this host cannot give (a package, a tool)."""


@dataclass
class Kernel:
    version: str  # e.g. 6.1.0-57-amd64
    package: str  # the .deb's version, e.g. 6.1.192-3
    vmlinuz: Path
    modules: dict[str, Path]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)
    except FileNotFoundError:
        raise GuestUnavailable(f"{cmd[0]} not found") from None
    except subprocess.CalledProcessError as e:
        raise GuestUnavailable(f"{' '.join(cmd)} failed: {e.stderr.strip()[-300:]}") from None


def _fetch(package: str) -> Path:
    """The package's files, unpacked into the cache once (``apt-get download``)."""
    root = CACHE / package
    if (root / ".unpacked").exists():
        return root
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    _run(["apt-get", "download", package], cwd=debs)
    deb = max(debs.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    shutil.rmtree(root, ignore_errors=True)
    _run(["dpkg-deb", "-x", str(deb), str(root)])
    (root / ".unpacked").write_text(deb.name)
    return root


def kernel_package() -> str:
    """The versioned image package ``linux-image-amd64`` depends on today."""
    out = _run(["apt-cache", "depends", "linux-image-amd64"]).stdout
    for line in out.splitlines():
        name = line.strip().removeprefix("Depends:").strip()
        if line.strip().startswith("Depends:") and name.startswith("linux-image-6"):
            return name
    raise GuestUnavailable("apt-cache knows no linux-image-amd64 (Debian's kernel)")


def fetch_kernel() -> Kernel:
    pkg = kernel_package()
    root = _fetch(pkg)
    version = pkg.removeprefix("linux-image-")
    mods = {}
    for name in MODULES:
        found = list((root / "lib/modules" / version).rglob(f"{name}.ko"))
        if not found:
            raise GuestUnavailable(f"{pkg} has no {name}.ko")
        mods[name] = found[0]
    deb = (root / ".unpacked").read_text()
    return Kernel(version, deb.split("_")[1], root / "boot" / f"vmlinuz-{version}", mods)


def build_probe(out: Path) -> Path:
    exe = out / "probe"
    _run(["gcc", "-static", "-O2", "-Wall", "-o", str(exe), str(HERE / "probe.c")])
    return exe


INIT = """#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
{insmods}
/bin/busybox ls /dev/snd > /dev/null || echo "@@ {{\\"error\\":\\"no /dev/snd\\"}}"
/probe /scenarios.txt
/bin/busybox poweroff -f
"""


def _cpio(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A newc archive of ``files`` (path → (data, mode)); directories made as needed."""
    out = io.BytesIO()
    dirs = sorted({str(Path(p).parents[i]) for p in files
                   for i in range(len(Path(p).parents) - 1)})
    entries = [(d, b"", 0o40755) for d in dirs] + [(p, d, m) for p, (d, m) in files.items()]
    entries.append(("TRAILER!!!", b"", 0))
    for ino, (name, data, mode) in enumerate(entries, 1):
        raw = name.encode() + b"\0"
        head = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0))
        out.write(head.encode() + raw)
        out.write(b"\0" * (-(110 + len(raw)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
    return out.getvalue()


def build_initramfs(kernel: Kernel, probe: Path, scenarios: str, out: Path) -> Path:
    busybox = _fetch("busybox-static") / "bin" / "busybox"
    insmods = "\n".join(
        f"/bin/busybox insmod /lib/{name}.ko {MODULE_ARGS.get(name, '')}".rstrip()
        for name in MODULES)
    files = {
        "init": (INIT.format(insmods=insmods).encode(), 0o100755),
        "bin/busybox": (busybox.read_bytes(), 0o100755),
        "probe": (probe.read_bytes(), 0o100755),
        "scenarios.txt": (scenarios.encode(), 0o100644),
        "proc/.keep": (b"", 0o100644), "sys/.keep": (b"", 0o100644),
        "dev/.keep": (b"", 0o100644),
    }
    for name, path in kernel.modules.items():
        files[f"lib/{name}.ko"] = (path.read_bytes(), 0o100644)
    img = out / "initrd.gz"
    img.write_bytes(gzip.compress(_cpio(files), compresslevel=1))
    return img


def boot(scenarios: str, workdir: Path, timeout_s: float) -> tuple[Kernel, list[dict], str]:
    """Boot once with ``scenarios`` (probe.c's input); (kernel, the probe's records, the
    console's other lines). GuestUnavailable where a part is missing or the guest hangs."""
    if shutil.which(QEMU) is None:
        raise GuestUnavailable(f"{QEMU} not found (Debian's qemu-system-x86)")
    kernel = fetch_kernel()
    probe = build_probe(workdir)
    initrd = build_initramfs(kernel, probe, scenarios, workdir)
    cmd = [QEMU, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
           "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
           "-append", "console=ttyS0 quiet panic=-1"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise GuestUnavailable(f"the guest did not power off within {timeout_s:.0f} s "
                               f"(last output: {(e.stdout or b'')[-300:]!r})") from None
    records, other = [], []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("@@ "):
            records.append(json.loads(line[3:]))
        elif line:
            other.append(line)
    if not records or "done" not in records[-1]:
        raise GuestUnavailable("the probe did not finish: " + "\n".join(other[-15:]))
    return kernel, records, "\n".join(other)
