"""Primitive ops by family; each is a Function with forward and backward side by side."""

from engine.ops.util import unbroadcast

__all__ = ["unbroadcast"]
