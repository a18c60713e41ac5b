"""The error every ``dma-audio`` command turns into one line on stderr and exit status 2."""


class UsageError(Exception):
    """A bad option or input: reported as one line, exit status 2."""
