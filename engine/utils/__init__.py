"""engine.utils: helpers outside the tensor core, as torch.utils; ``data`` loads on first use."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["data"]


def __getattr__(name: str) -> Any:
    if name == "data":
        return importlib.import_module("engine.utils.data")
    raise AttributeError(f"module 'engine.utils' has no attribute '{name}'")
