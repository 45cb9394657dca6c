"""Memory-format constants (engine.contiguous_format, ...), accepted where PyTorch takes them."""

from __future__ import annotations


class memory_format:  # noqa: N801 - PyTorch spells it in lower case
    """A memory layout request; arrays here are laid out by the array library, so every format
    yields a correct (C-ordered) result."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"engine.{self.name}"


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


def check_memory_format(value: object, op: str) -> memory_format:
    """value when it is a memory format, else PyTorch's TypeError."""
    if not isinstance(value, memory_format):
        raise TypeError(f"{op}(): argument 'memory_format' must be torch.memory_format, not "
                        f"{type(value).__name__}")
    return value
