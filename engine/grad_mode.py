"""Global switch for graph recording: no_grad / enable_grad as context managers and decorators."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class _GradState:
    enabled = True
    inference = False


def is_grad_enabled() -> bool:
    """True when operations record a graph for backward."""
    return _GradState.enabled


class _GradMode:
    """Base of no_grad / enable_grad: a context manager that also decorates functions, with or
    without parentheses (@no_grad() and @no_grad, as PyTorch)."""

    mode = True

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)

    def __enter__(self) -> None:
        self._prev = _GradState.enabled
        _GradState.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _GradState.enabled = self._prev

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Disable graph recording inside the block or decorated function."""

    mode = False


class enable_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Enable graph recording inside the block or decorated function."""

    mode = True


class set_grad_enabled:  # noqa: N801 - PyTorch's name
    """Turn graph recording on or off now; as a context manager, restore it on exit."""

    def __init__(self, mode: bool) -> None:
        self._prev = _GradState.enabled
        self.mode = bool(mode)
        _GradState.enabled = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _GradState.enabled = self._prev

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        _GradState.enabled = self._prev  # as a decorator it applies only while fn runs
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper

    def __repr__(self) -> str:
        return f"engine.set_grad_enabled(mode={self.mode})"


class inference_mode:  # noqa: N801 - PyTorch's name
    """no_grad for inference (PyTorch's inference tensors are not modelled: outputs are plain
    tensors without a graph); inference_mode(False) leaves grad mode as it is."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # bare @inference_mode
            return cls(True)(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self._prev = (_GradState.enabled, _GradState.inference)
        if self.mode:
            _GradState.enabled, _GradState.inference = False, True
        else:
            _GradState.inference = False

    def __exit__(self, *exc: object) -> None:
        _GradState.enabled, _GradState.inference = self._prev

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper


def is_inference_mode_enabled() -> bool:
    """True inside inference_mode()."""
    return _GradState.inference
