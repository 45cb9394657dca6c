"""engine.cuda.amp: torch.cuda.amp's deprecated names; each warns, then acts as engine.amp's."""

from __future__ import annotations

import functools
import warnings
from typing import Any

from engine import dtypes


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"`engine.cuda.amp.{old}` is deprecated. Please use `{new}` instead.",
                  FutureWarning, stacklevel=3)


def _amp() -> Any:
    import engine.amp  # on first use: engine.cuda is imported early and need not load amp

    return engine.amp


def __getattr__(name: str) -> Any:
    if name == "autocast":
        return _autocast_class()
    if name == "GradScaler":
        return _scaler_class()
    raise AttributeError(f"module 'engine.cuda.amp' has no attribute '{name}'")


@functools.cache
def _autocast_class() -> type:
    class autocast(_amp().autocast):  # noqa: N801 - PyTorch's name
        """Deprecated: engine.amp.autocast('cuda', ...)."""

        def __init__(self, enabled: bool = True, dtype: Any = dtypes.float16,
                     cache_enabled: bool = True) -> None:
            _deprecated("autocast(args...)", "engine.amp.autocast('cuda', args...)")
            super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    return autocast


@functools.cache
def _scaler_class() -> type:
    class GradScaler(_amp().GradScaler):
        """Deprecated: engine.amp.GradScaler('cuda', ...)."""

        def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                     backoff_factor: float = 0.5, growth_interval: int = 2000,
                     enabled: bool = True) -> None:
            _deprecated("GradScaler(args...)", "engine.amp.GradScaler('cuda', args...)")
            super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                             enabled)

    return GradScaler


def custom_fwd(fwd: Any = None, *, cast_inputs: Any = None) -> Any:
    """Deprecated: engine.amp.custom_fwd(device_type='cuda', ...)."""
    _deprecated("custom_fwd(args...)", "engine.amp.custom_fwd(args..., device_type='cuda')")
    return _amp().custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd: Any = None) -> Any:
    """Deprecated: engine.amp.custom_bwd(device_type='cuda')."""
    _deprecated("custom_bwd(args...)", "engine.amp.custom_bwd(args..., device_type='cuda')")
    return _amp().custom_bwd(bwd, device_type="cuda")
