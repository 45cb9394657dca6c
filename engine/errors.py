"""Typed errors raised by the library; the CLI prints their message and exits non-zero."""


class EngineError(Exception):
    """Base class of every error this project raises on bad input."""


class ConfigError(EngineError):
    """A configuration file or override is invalid."""


class DataError(EngineError):
    """A data file is missing, corrupt or inconsistent."""


class CheckpointError(EngineError):
    """A checkpoint or saved state dict is missing, corrupt or does not match."""


class ExportError(EngineError):
    """A model cannot be exported, or an exported file is invalid."""
