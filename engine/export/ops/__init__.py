"""The graph's op families; importing this package registers every op (see registry.py)."""

from __future__ import annotations

from engine.export.ops import (  # noqa: F401 - each module registers its ops on import
    activation,
    conv,
    elementwise,
    linear,
    norm,
    pool,
    shape,
    softmax,
)
from engine.export.registry import OPS, TRACED, OpDef

__all__ = ["OPS", "TRACED", "OpDef"]
