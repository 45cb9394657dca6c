"""Global switch for graph recording: no_grad / enable_grad as context managers and decorators."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class _GradState:
    enabled = True


def is_grad_enabled() -> bool:
    """True when operations record a graph for backward."""
    return _GradState.enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn graph recording on or off."""
    _GradState.enabled = bool(mode)


class _GradMode:
    """Base of no_grad / enable_grad: a context manager that also decorates functions."""

    mode = True

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
