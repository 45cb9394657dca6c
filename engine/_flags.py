"""Global switches PyTorch scripts set early: matmul precision and deterministic algorithms."""

from __future__ import annotations

_PRECISIONS = ("highest", "high", "medium")


class _Flags:
    matmul_precision = "highest"
    deterministic = False
    warn_only = False


def set_float32_matmul_precision(precision: str) -> None:
    """Store the float32 matmul precision; NumPy and CuPy here always use full float32 math."""
    if precision not in _PRECISIONS:
        raise RuntimeError(f"Invalid precision '{precision}': expected one of {_PRECISIONS}")
    _Flags.matmul_precision = precision


def get_float32_matmul_precision() -> str:
    """The value set by set_float32_matmul_precision ('highest' by default)."""
    return _Flags.matmul_precision


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record the flag; no op changes algorithm by it. CPU ops are deterministic; on CuPy the
    backward of indexing with repeated indices adds with atomics, whose order may vary."""
    _Flags.deterministic, _Flags.warn_only = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    """The flag set by use_deterministic_algorithms."""
    return _Flags.deterministic


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The warn_only flag set by use_deterministic_algorithms."""
    return _Flags.warn_only
