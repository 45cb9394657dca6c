"""GradScaler: dynamic loss scaling for float16 training, as torch.amp.GradScaler.

The scale is a float32 number kept on the host, so scale() and update() never wait for the GPU;
unscale_ checks the gradients on their own device and step() reads that check once: the one
host sync a step needs.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from engine import backend
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written


class OptState(enum.Enum):
    """Where an optimizer is in the scaler's step: nothing yet, unscaled, stepped."""

    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict[str, Any]:
    # found_inf: {device: 0-d bool array on it}; skipped: the host answer, once read
    return {"stage": OptState.READY, "found_inf": {}, "skipped": None}


_FIX = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the " \
       "iteration."


class GradScaler:
    """Scale the loss up so float16 gradients do not underflow; skip steps that overflowed."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = bool(enabled)
        if device == "cuda" and self._enabled and not backend.cuda_available():
            warnings.warn("engine.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", stacklevel=2)
            self._enabled = False
        if not self._enabled:
            return
        _check_factors(growth_factor, backoff_factor, growth_interval)
        if not _usable_scale(init_scale):
            raise ValueError(f"GradScaler: init_scale must be a positive finite number (its "
                             f"float32 value and reciprocal too), got {init_scale!r}")
        self._init_scale = float(init_scale)
        self._scale: np.float32 | None = None  # set by the first scale(), as PyTorch does
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._init_growth_tracker = 0
        self._growth_tracker: int | None = None
        self._per_optimizer_states: dict[int, dict[str, Any]] = defaultdict(
            _refresh_per_optimizer_state)

    def _check_scale(self, funcname: str) -> np.float32:
        if self._scale is None:
            raise RuntimeError(f"Attempted {funcname} but _scale is None.  {_FIX}")
        return self._scale

    def scale(self, outputs: Any) -> Any:
        """outputs (a tensor or an iterable of tensors) times the scale; as is when disabled."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = np.float32(self._init_scale)
            self._growth_tracker = self._init_growth_tracker
        factor = float(self._scale)

        def apply_scale(value: Any) -> Any:
            if isinstance(value, Tensor):
                return value * factor  # a Python float keeps the loss's dtype
            if isinstance(value, Iterable):
                scaled = map(apply_scale, value)
                return type(value)(scaled) if isinstance(value, list | tuple) else scaled
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def _unscale_grads_(self, optimizer: Any, inv_scale: np.float32,
                        allow_fp16: bool) -> dict[str, Any]:
        """Check every gradient for inf/NaN on its device, then multiply it by inv_scale."""
        found: dict[str, Any] = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                if not allow_fp16 and grad._data.dtype == np.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                xp = backend.get_array_module(grad._data)
                dev = grad._device
                with backend.on_device(dev):  # each gradient is checked and scaled on its GPU
                    bad = ~xp.isfinite(grad._data).all()  # stays on the device: no sync here
                    found[dev] = bad if dev not in found else found[dev] | bad
                    if inv_scale != 1:
                        grad._data *= inv_scale.astype(grad._data.dtype)
                if inv_scale != 1:
                    mark_written(grad)
        return found

    def unscale_(self, optimizer: Any) -> None:
        """Divide optimizer's gradients by the scale (once per step, e.g. before clipping)."""
        if not self._enabled:
            return
        scale = self._check_scale("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = np.float32(1.0 / np.float64(scale))  # PyTorch's double reciprocal
        state["found_inf"] = self._unscale_grads_(optimizer, inv_scale, allow_fp16=False)
        state["stage"] = OptState.UNSCALED

    @staticmethod
    def _skipped(state: dict[str, Any]) -> bool:
        """Whether any gradient was inf/NaN: the step's one host sync, read once."""
        if state["skipped"] is None:
            state["skipped"] = any(bool(flag) for flag in state["found_inf"].values())
        return state["skipped"]

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """unscale_ (unless done), then optimizer.step() unless a gradient is inf/NaN (None)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        self._check_scale("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if not state["found_inf"]:
            raise RuntimeError("No inf checks were recorded for this optimizer: none of its "
                               "parameters has a gradient")
        retval = None
        if not self._skipped(state):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Back off the scale after a skipped step, grow it after growth_interval clean ones."""
        if not self._enabled:
            return
        scale = self._check_scale("update")
        if new_scale is not None:
            self._scale = np.float32(_new_scale_value(new_scale, self._device))
        else:
            states = [s for s in self._per_optimizer_states.values() if s["found_inf"]]
            if not states:
                raise RuntimeError("No inf checks were recorded prior to update.")
            if any(self._skipped(s) for s in states):
                # float32 scale times a double factor, stored as float32: PyTorch's kernel
                self._scale = np.float32(float(scale) * self._backoff_factor)
                self._growth_tracker = 0
            else:
                successful = (self._growth_tracker or 0) + 1
                if successful == self._growth_interval:
                    with np.errstate(over="ignore"):  # inf is tested for below
                        grown = np.float32(float(scale) * self._growth_factor)
                    if np.isfinite(grown):
                        self._scale = grown
                    successful = 0
                self._growth_tracker = successful
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def get_scale(self) -> float:
        """The current scale (init_scale before the first scale(); 1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale)

    def get_growth_factor(self) -> float:
        """The factor the scale grows by."""
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        """Set the factor the scale grows by."""
        _check_factors(new_factor, self._backoff_factor, self._growth_interval)
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after a skipped step."""
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        """Set the factor the scale shrinks by."""
        _check_factors(self._growth_factor, new_factor, self._growth_interval)
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        """Clean steps between two growths of the scale."""
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        """Set the clean steps between two growths."""
        _check_factors(self._growth_factor, self._backoff_factor, new_interval)
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def _step_was_skipped(self, optimizer: Any) -> bool:
        """Whether this step's gradients were inf/NaN (the answer step() read; no new sync)."""
        return self._skipped(self._per_optimizer_states[id(optimizer)])

    def _found_inf_per_device(self, optimizer: Any) -> dict[str, Any]:
        """{device: 0-d array, true where a gradient was inf/NaN} from this step's unscale_."""
        return dict(self._per_optimizer_states[id(optimizer)]["found_inf"])

    def is_enabled(self) -> bool:
        """True when scaling is on."""
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """scale, factors, interval and growth tracker (JSON-ready); {} when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what state_dict() returned (a no-op when disabled)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        missing = sorted({"scale", "growth_factor", "backoff_factor", "growth_interval",
                          "_growth_tracker"} - set(state_dict))
        if missing:
            raise KeyError(f"GradScaler state dict lacks '{missing[0]}'")
        scale, tracker = state_dict["scale"], state_dict["_growth_tracker"]
        if not _usable_scale(scale):
            raise ValueError(f"GradScaler state dict: 'scale' must be a number > 0 whose float32 "
                             f"value and reciprocal are finite, got {scale!r}")
        if isinstance(tracker, bool) or not isinstance(tracker, int) or tracker < 0:
            raise ValueError(f"GradScaler state dict: '_growth_tracker' must be an integer >= 0, "
                             f"got {tracker!r}")
        _check_factors(state_dict["growth_factor"], state_dict["backoff_factor"],
                       state_dict["growth_interval"])
        self._init_scale = float(scale)
        if self._scale is not None:
            self._scale = np.float32(scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = tracker
        if self._growth_tracker is not None:
            self._growth_tracker = tracker


def _usable_scale(scale: Any) -> bool:
    """True for a number whose float32 value (the one kept) and its float32 reciprocal (what
    unscale_ multiplies by) are finite and > 0: about 2.9e-39 to 3.4e38."""
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        return False
    with np.errstate(over="ignore"):  # overflow to inf is what is tested for
        try:
            kept = np.float32(float(scale))
        except OverflowError:  # an int beyond float64
            return False
        if not (np.isfinite(kept) and kept > 0):  # 1e300 -> inf, 1e-46 -> 0
            return False
        return bool(np.isfinite(np.float32(1.0 / np.float64(kept))))  # 1e-45 -> 1/scale inf


def _check_factors(growth: Any, backoff: Any, interval: Any) -> None:
    """One-line errors for factors PyTorch asserts on."""
    for name, value in (("growth_factor", growth), ("backoff_factor", backoff)):
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value):
            raise ValueError(f"GradScaler: {name} must be a finite number, got {value!r}")
    if growth <= 1.0:
        raise ValueError(f"The growth factor must be > 1.0 (got {growth}).")
    if not 0.0 < backoff < 1.0:
        raise ValueError(f"The backoff factor must be < 1.0 and > 0 (got {backoff}).")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"GradScaler: growth_interval must be an integer >= 1, got "
                         f"{interval!r}")


def _new_scale_value(new_scale: Any, device: str) -> float:
    """update(new_scale)'s value: a float, or a 1-element tensor that needs no grad."""
    if isinstance(new_scale, float):
        return new_scale
    reason = ("new_scale should be a float or a 1-element engine.FloatTensor with "
              "requires_grad=False.")
    if not isinstance(new_scale, Tensor) or new_scale.numel() != 1 or new_scale.requires_grad:
        raise ValueError(reason)
    if backend.normalize_device(new_scale._device).split(":")[0] != device.split(":")[0]:
        raise ValueError(f"{reason} (it is on {new_scale._device}, the scaler on {device})")
    return float(new_scale.item())
