"""The ``dma-audio`` program's first lines: the signal handlers, before anything loads.

A Ctrl-C or SIGTERM that comes while the program still loads ends it at once with one
line and the signal's status (nothing has been written yet); :func:`demos.cli.main`
installs the handlers of the run itself.
"""

import os
import signal


def _early_exit(signum, frame):
    os.write(2, b"dma-audio: interrupted\n")
    os._exit(128 + signum)


BEFORE = {sig: signal.signal(sig, _early_exit) for sig in (signal.SIGINT, signal.SIGTERM)}


def main():
    from demos.cli import main as cli_main

    return cli_main()
