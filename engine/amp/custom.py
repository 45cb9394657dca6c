"""custom_fwd / custom_bwd: autocast for custom autograd.Function methods, as torch.amp's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from engine import dtypes
from engine.amp.autocast_mode import (
    _device_type,
    _eligible,
    autocast,
    get_autocast_dtype,
    is_autocast_enabled,
)
from engine.ops.bfloat16 import RoundBF16
from engine.tensor import Tensor


def _cast(value: Any, device_type: str, dtype: Any) -> Any:
    """value with its float16/float32 tensors on device_type (in containers too) cast to dtype."""
    if isinstance(value, Tensor):
        if not _eligible(value) or _device_type(value._device) != device_type:
            return value
        return RoundBF16.apply(value) if dtype is dtypes.bfloat16 else value.to(dtype)
    if isinstance(value, dict):
        return {k: _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cast(v, device_type, dtype) for v in value)
    return value


def custom_fwd(fwd: Callable[..., Any] | None = None, *, device_type: str,
               cast_inputs: Any = None) -> Any:
    """Decorate a custom Function's forward; cast_inputs: run it on inputs cast so, autocast off."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        ctx._dtype = get_autocast_dtype(device_type)
        enabled = is_autocast_enabled(device_type)
        if cast_inputs is None or not enabled:
            ctx._fwd_used_autocast = enabled
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        with autocast(device_type=device_type, enabled=False):
            return fwd(*_cast(args, device_type, cast_inputs),
                       **_cast(kwargs, device_type, cast_inputs))

    return decorate_fwd


def custom_bwd(bwd: Callable[..., Any] | None = None, *, device_type: str) -> Any:
    """Decorate a custom Function's backward: run it under the autocast state of its forward."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        with autocast(device_type=device_type, enabled=getattr(ctx, "_fwd_used_autocast", False),
                      dtype=getattr(ctx, "_dtype", None)):
            return bwd(*args, **kwargs)

    return decorate_bwd
