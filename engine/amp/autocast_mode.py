"""autocast: per-op dtype selection inside a region, as torch.autocast (state is per thread)."""

from __future__ import annotations

import copy
import functools
import threading
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from engine import backend, dtypes, function
from engine.amp import policy
from engine.grad_mode import _GradState
from engine.ops.bfloat16 import RoundBF16
from engine.ops.elementwise import Cast

_DEFAULT_DTYPES = {"cuda": dtypes.float16, "cpu": dtypes.bfloat16}  # PyTorch's defaults
_FLOAT16 = dtypes.float16.np
_FLOAT32 = dtypes.float32.np


class _Mode(NamedTuple):
    dtype: dtypes.dtype  # float16 or the emulated bfloat16
    cache: bool


class _Local(threading.local):
    """One thread's autocast state (PyTorch's is thread-local too)."""

    def __init__(self) -> None:
        self.modes: dict[str, _Mode] = {}  # device type -> mode, for enabled regions only
        self.busy = False  # True while the hook runs an op it cast: that op is not cast again
        self.nesting = 0
        # (id(leaf), rule target) -> (leaf, version, grad mode, cast tensor): a parameter used
        # several times in a region is cast once, as PyTorch's autocast cache does
        self.cache: dict[tuple[int, str], tuple[Any, int, bool, Any]] = {}


_local = _Local()
_RULES = policy._rules  # filled in place by policy.rules() before the hook is installed
_open = [0]  # enabled regions open in any thread; the hook is installed while this is > 0
_lock = threading.Lock()


def _device_type(device: str) -> str:
    return "cpu" if device == "cpu" else "cuda"


def _eligible(t: Any) -> bool:
    """Float16 or float32 (PyTorch's autocast leaves float64 and non-float tensors alone)."""
    return t._data.dtype.char in "ef"


def _cached(t: Any, key: str, mode: _Mode, make: Callable[[Any], Any]) -> Any:
    """make(t), reused while t (a leaf that requires grad) is unchanged in this region."""
    if not (mode.cache and t.requires_grad and t.grad_fn is None):
        return make(t)
    cache = _local.cache
    hit = cache.get((id(t), key))
    # The cast's node keeps no array (Cast and RoundBF16 free nothing), so every graph of the
    # region may backward through it, each in its own backward call.
    if hit is not None and hit[0] is t and hit[1] == t._vc[0] and hit[2] == _GradState.enabled:
        return hit[3]
    out = make(t)
    cache[(id(t), key)] = (t, t._vc[0], _GradState.enabled, out)
    return out


def _to_half(t: Any) -> Any:
    return Cast.apply(t, dtype=_FLOAT16)


def _lower(inputs: tuple, mode: _Mode) -> list | None:
    """Inputs cast to the region's dtype, or None when none is float16/float32 (left alone)."""
    if mode.dtype is dtypes.bfloat16:  # every float16/32 input is rounded (it may already be)
        if not any(_eligible(t) for t in inputs):
            return None  # float64 and integer ops run as they are, their results unrounded
        return [_cached(t, "bf16", mode, RoundBF16.apply) if _eligible(t) else t for t in inputs]
    if not any(t._data.dtype.char == "f" for t in inputs):
        return None
    return [_cached(t, "fp16", mode, _to_half) if t._data.dtype.char == "f" else t
            for t in inputs]


def _widen(inputs: tuple, rule: str) -> list | None:
    """FP32: float16 inputs to float32. PROMOTE: the same, only when float32 ones are there too."""
    chars = {t._data.dtype.char for t in inputs}
    if "e" not in chars or (rule == policy.PROMOTE and "f" not in chars):
        return None
    return [Cast.apply(t, dtype=_FLOAT32) if t._data.dtype.char == "e" else t for t in inputs]


def _hook(cls: type, inputs: tuple, kwargs: dict) -> Any:
    """Function.apply's autocast hook: cast by cls's rule and run it, or None to run as is."""
    local = _local
    if not local.modes or local.busy or not inputs:
        return None
    rule = _RULES.get(cls)
    if rule is None:
        return None
    mode = local.modes.get(_device_type(inputs[0]._device))
    if mode is None:
        return None
    cast = _lower(inputs, mode) if rule == policy.LOWER else _widen(inputs, rule)
    if cast is None:
        return None
    local.busy = True
    try:
        out = cls.apply(*cast, **kwargs)
        if rule == policy.LOWER and mode.dtype is dtypes.bfloat16 and out._data.dtype.char == "f":
            # a bfloat16 op's result is bfloat16; a float64 one (an input left alone) stays so
            out = RoundBF16.apply(out)
    finally:
        local.busy = False
    return out


def _as_dtype(dtype: Any) -> Any:
    if dtype is None or isinstance(dtype, dtypes.dtype):
        return dtype
    try:
        return dtypes.from_numpy_dtype(dtypes.to_numpy_dtype(dtype))
    except TypeError:
        return dtype


class autocast:  # noqa: N801 - PyTorch's name
    """Run ops in a region (or a decorated function) in lower precision where that is safe."""

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool = True) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _DEFAULT_DTYPES:
            raise RuntimeError(f"User specified an unsupported autocast device_type "
                               f"'{device_type}'; use 'cpu' or 'cuda'")
        self.device = device_type
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else _as_dtype(dtype)
        self._enabled = bool(enabled)
        self._cache_enabled = bool(cache_enabled)
        self._saved: list[_Mode | None] = []
        if self._enabled and device_type == "cuda" and not backend.cuda_available():
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. "
                          "Disabling", stacklevel=2)
            self._enabled = False
        if self._enabled and self.fast_dtype not in (dtypes.float16, dtypes.bfloat16):
            warnings.warn(f"In {device_type.upper()} autocast, but the target dtype is not "
                          f"supported ({self.fast_dtype}). Disabling autocast: use "
                          "engine.float16 or engine.bfloat16", stacklevel=2)
            self._enabled = False

    def __enter__(self) -> autocast:
        local = _local
        policy.rules()  # built (once) before the hook can look an op up
        self._saved.append(local.modes.get(self.device))
        if self._enabled:
            local.modes[self.device] = _Mode(self.fast_dtype, self._cache_enabled)
        else:
            local.modes.pop(self.device, None)
        local.nesting += 1
        with _lock:
            _open[0] += 1
            function.autocast_hook = _hook
        return self

    def __exit__(self, *exc: object) -> None:
        local = _local
        previous = self._saved.pop()
        if previous is None:
            local.modes.pop(self.device, None)
        else:
            local.modes[self.device] = previous
        local.nesting -= 1
        if local.nesting == 0:
            local.cache.clear()  # casts are reused within the outermost region only
        with _lock:
            _open[0] -= 1
            if _open[0] == 0:
                function.autocast_hook = None

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            region = copy.copy(self)
            region._saved = []
            with region:
                return func(*args, **kwargs)

        return wrapper

    def __repr__(self) -> str:
        return (f"engine.autocast(device_type={self.device!r}, dtype={self.fast_dtype}, "
                f"enabled={self._enabled})")


def is_autocast_available(device_type: str) -> bool:
    """True for the device types autocast knows ('cpu' and 'cuda')."""
    return device_type in _DEFAULT_DTYPES


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """True inside an enabled autocast region for device_type (default 'cuda', as PyTorch)."""
    return (device_type or "cuda") in _local.modes


def get_autocast_dtype(device_type: str) -> dtypes.dtype:
    """The dtype autocast uses for device_type now (its default outside a region)."""
    if device_type not in _DEFAULT_DTYPES:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'; "
                           "use 'cpu' or 'cuda'")
    mode = _local.modes.get(device_type)
    return mode.dtype if mode is not None else _DEFAULT_DTYPES[device_type]


def autocasts(t: Any, other: Any) -> bool:
    """True when autocast, on for t's device type in this thread, casts t and other to one dtype
    (both float16 or float32); float64 and integer tensors it leaves alone must match as is."""
    return _eligible(t) and _eligible(other) and _device_type(t._device) in _local.modes
