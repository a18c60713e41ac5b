"""A private JACK server on the dummy backend: the clocked sound server with no sound
hardware, started and stopped by the tests and scripts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class JackError(RuntimeError):
    """No server could be had: jackd is missing, did not come up, or PortAudio cannot
    reach it."""


def jack_missing() -> str | None:
    """Why no server can be started here, or None."""
    for tool in ("jackd", "jack_lsp"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install jackd2)"
    return None


def realtime_allowed() -> bool:
    """Whether a process here may take SCHED_FIFO at JACK's priority (root, CAP_SYS_NICE
    or an RLIMIT_RTPRIO), asked of a throwaway process."""
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def jack_device(env: dict) -> int:
    """The index of PortAudio's JACK device with a stereo output, asked in a process of
    its own (PortAudio lists devices once, when it starts)."""
    out = subprocess.run(
        [sys.executable, "-c", "import sounddevice as sd; print([d['index'] for d in "
         "sd.query_devices() if 'JACK' in sd.query_hostapis(d['hostapi'])['name'] and "
         "d['max_output_channels'] >= 2][0])"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise JackError("PortAudio sees no JACK device (is libportaudio2 built with JACK?)")
    return int(out.stdout.strip())


def _clear_stale(name: str) -> None:
    """JACK keeps servers in a registry of 8 slots and reclaims a dead server's slot only
    when a server of the same name starts. End a leftover of this name, and where no
    jackd at all is alive, remove a registry full of dead entries."""
    subprocess.run(["pkill", "-TERM", "-f", f"jackd -n {name} "], capture_output=True)
    time.sleep(0.2)
    if subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).returncode != 0:
        for stale in Path("/dev/shm").glob("jack*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


class JackServer:
    """jackd on the dummy backend: 48 kHz, period 256, real-time where allowed
    (``realtime=None``; True or False to insist)."""

    def __init__(self, name: str, rate: int = 48000, period: int = 256,
                 realtime: bool | None = None) -> None:
        self.name, self.rate, self.period = name, rate, period
        self.realtime = realtime
        self.env = dict(os.environ, JACK_DEFAULT_SERVER=name)
        self.proc: subprocess.Popen | None = None
        self.device: int | None = None

    def __enter__(self) -> JackServer:
        why = jack_missing()
        if why:
            raise JackError(why)
        _clear_stale(self.name)
        if self.realtime is None:
            self.realtime = realtime_allowed()
        sched = ["--realtime"] if self.realtime else ["--no-realtime"]
        self.proc = subprocess.Popen(["jackd", "-n", self.name, *sched, "-d", "dummy",
                                      "-r", str(self.rate), "-p", str(self.period)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 10
            while subprocess.run(["jack_lsp", "-s", self.name], env=self.env,
                                 capture_output=True).returncode != 0:
                if time.monotonic() > end or self.proc.poll() is not None:
                    raise JackError("jackd did not come up")
                time.sleep(0.1)
            self.device = jack_device(self.env)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def loop_back(self, client: str = "PortAudio", channels: int = 2, timeout_s: float = 10,
                  alive: Callable[[], bool] = lambda: True) -> bool:
        """Once ``client``'s ports exist, connect its outputs to its own inputs (one JACK
        period of delay, bit-exact in float32) in place of the server's capture ports.
        False, with nothing connected, if ``alive()`` turns false first (the client's
        process ended)."""
        want = [f"{client}:{d}_{k}" for d in ("in", "out") for k in range(channels)]
        end = time.monotonic() + timeout_s
        while True:
            ports = subprocess.run(["jack_lsp", "-s", self.name], env=self.env,
                                   capture_output=True, text=True).stdout.split()
            if all(p in ports for p in want):
                break
            if not alive():
                return False
            if time.monotonic() > end:
                raise JackError(f"{client} did not register its ports on {self.name}")
            time.sleep(0.02)
        for k in range(channels):
            subprocess.run(["jack_disconnect", "-s", self.name, f"system:capture_{k + 1}",
                            f"{client}:in_{k}"], env=self.env, capture_output=True)
            subprocess.run(["jack_connect", "-s", self.name, f"{client}:out_{k}",
                            f"{client}:in_{k}"], env=self.env, check=True,
                           capture_output=True)
        return True
