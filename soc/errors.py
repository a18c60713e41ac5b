"""The far end's errors (kept out of the compiled modules: mypyc cannot compile a subclass
of a built-in exception other than Exception's own)."""


class DeviceError(RuntimeError):
    """The sound device failed: it could not be opened, or it went away."""
