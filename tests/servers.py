"""Private, clocked sound servers for end-to-end tests (docs/testing.md).

Each fixture starts its own server under a unique name and stops it afterwards. Where the
server binary is missing the test is skipped with the reason; `.ci/run` installs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from demos.jack import JackError, JackServer, jack_missing

ROOT = Path(__file__).resolve().parent.parent


def _unavailable(reason: str) -> None:
    """Skip where the server cannot be had; in CI, where it must be had, fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must have it (setup.sh installs it)")
    pytest.skip(reason)


def _wait(cmd: list[str], env: dict, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if subprocess.run(cmd, env=env, capture_output=True).returncode == 0:
            return True
        time.sleep(0.1)
    return False


JACK_NAME = "dmaaudio-test"


@pytest.fixture
def jack_server():
    """A private JACK dummy server (:class:`demos.jack.JackServer`): ``.name``, ``.env``
    and ``.device``, the PortAudio device that reaches it."""
    why = jack_missing()
    if why:
        _unavailable(why)
    try:
        server = JackServer(JACK_NAME).__enter__()
    except JackError as e:
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.__exit__()


@pytest.fixture
def pulse_server():
    if shutil.which("pulseaudio") is None:
        _unavailable("pulseaudio not installed (apt-get install pulseaudio pulseaudio-utils)")
    rt = tempfile.mkdtemp(prefix="pa-")
    os.chmod(rt, 0o700)
    sink = "dmaaudio"
    env = dict(os.environ, XDG_RUNTIME_DIR=rt, PULSE_SINK=sink, PULSE_SOURCE=f"{sink}.monitor")
    env.pop("PULSE_SERVER", None)
    proc = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
         "-L", "module-native-protocol-unix",
         "-L", f"module-null-sink sink_name={sink} rate=48000"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not _wait(["pactl", "info"], env, 10):
            pytest.fail("pulseaudio did not come up")
        yield sink, env
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(rt, ignore_errors=True)


def wait_for_recorder(env: dict, timeout: float = 10) -> bool:
    """True once a PulseAudio record stream (parecord) is connected."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = subprocess.run(["pactl", "list", "short", "source-outputs"], env=env,
                             capture_output=True, text=True).stdout
        if out.strip():
            return True
        time.sleep(0.1)
    return False


def run_py(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
