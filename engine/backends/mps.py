"""engine.backends.mps: Apple's Metal backend, which this engine does not have."""


def is_available() -> bool:
    """False: there is no Metal backend."""
    return False


def is_built() -> bool:
    """False: there is no Metal backend."""
    return False
