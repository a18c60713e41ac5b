#!/usr/bin/env python3
"""60 s of stress on JACK's dummy backend, with the capture looped back.

    .venv/bin/python scripts/stress-jack.py [extra stress options]

Starts a private jackd (demos.jack.JackServer), runs ``dma-audio stress --duplex`` with
random stalls, CPU hogs and writer jitter, connects the client's outputs to its inputs,
and leaves report.json and timeline.png here unless the options say otherwise. Exits
with the stress command's status.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demos.jack import JackError, JackServer  # noqa: E402

DEFAULTS = ["--duration", "60", "--random-stalls", "10", "--hog", "2", "--jitter", "2",
            "--seed", "1", "--json", "report.json", "--plot", "timeline.png"]


def main(extra: list[str]) -> int:
    try:
        with JackServer("dmaaudio-stress") as jack:
            proc = subprocess.Popen([sys.executable, "-m", "demos.cli", "stress", "-D",
                                     str(jack.device), "--duplex", *DEFAULTS, *extra],
                                    env=dict(jack.env, PYTHONPATH=str(ROOT)))
            try:
                jack.loop_back(alive=lambda: proc.poll() is None)
                return proc.wait()
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
    except JackError as e:
        print(f"stress-jack: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
