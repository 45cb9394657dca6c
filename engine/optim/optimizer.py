"""Optimizer base: param groups, per-parameter state, zero_grad, PyTorch-layout state dicts."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from engine import backend
from engine.errors import CheckpointError
from engine.grad_mode import enable_grad
from engine.optim._flat import FlatGroup, step_small
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written

_TMP = 9  # scratch slot the helpers below use for their own temporaries
_LABELS = {"lr": "learning rate", "eps": "epsilon value"}  # PyTorch's wording of the errors
_REFUSED = {
    "foreach": "there are no multi-tensor (foreach) kernels here; every step already updates "
               "each parameter in place with the same math",
    "fused": "this library has no fused optimizer kernels (each step already updates every "
             "parameter in place)",
    "capturable": "CUDA-graph capture of optimizer steps is not available",
    "differentiable": "optimizer steps run outside autograd, so a step cannot be differentiated",
}
_FLAG_DEFAULTS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}


class OptimizerStateError(CheckpointError, ValueError):
    """An optimizer state dict does not fit the optimizer it is loaded into."""


class _Required:
    """Marker for a hyperparameter without a default (PyTorch's `required`)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class of all optimizers: holds param_groups and a state dict per parameter."""

    # True where _update is elementwise: a group's small parameters then step together over
    # flat arrays (engine/optim/_flat.py), with the same values as one by one.
    _flat_small = False

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        # Reusable temporaries keyed by (shape, dtype, device, slot): steps allocate nothing
        # for the arrays they can write into (engine/optim is a measured hot path).
        self._scratch: dict[tuple, Any] = {}
        self._flat: dict[int, FlatGroup] = {}  # group index -> layout of its small parameters
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k not in ("params",
                                                                             "param_names")]
        return "\n".join(lines + [")"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (defaults fill the rest)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections")
        params = [params] if isinstance(params, Tensor) else list(params)
        names = None
        if params and isinstance(params[0], tuple):  # named_parameters(): (name, param) pairs
            names = [name for name, _ in params]
            params = [p for _, p in params]
            group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        if isinstance(group.get("lr"), Tensor):
            # A 1-element Tensor lr is read once, here: steps use its value as a float
            # (PyTorch re-reads the Tensor, which matters only for capturable/fused steps).
            if group["lr"].numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
            group["lr"] = float(group["lr"].item())
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
                    with backend.on_device(p._device):
                        p.grad._data[...] = 0
                    mark_written(p.grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once; closure re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        states, update = self.state, self._update
        for index, group in enumerate(self.param_groups):
            done = self._step_together(index, group)
            if len(done) == len(group["params"]):
                continue
            for i, p in enumerate(group["params"]):
                grad = p._grad  # the raw slot: this loop runs for every parameter every step
                if grad is not None and i not in done:
                    state = states[p]
                    if p._device == "cpu":
                        update(p, grad._data, state, group)
                    else:  # CuPy runs kernels and allocates state on the current GPU
                        with backend.on_device(p._device):
                            update(p, grad._data, state, group)
                    # p and its state tensors (moments, step counter) were written in place
                    mark_written(p, *[v for v in state.values() if type(v) is Tensor])
        return loss

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Step parameter p in place given its raw gradient array; each optimizer defines it."""
        raise NotImplementedError

    def _step_together(self, index: int, group: dict[str, Any]) -> Collection[int]:
        """Step the parameters of group `index` that can go faster than one _update call each;
        returns their indices (step() gives the rest _update one by one)."""
        return step_small(self, index, group) if self._flat_small else ()

    # ----- helpers for subclasses ------------------------------------------------------------
    def _implementation_flags(self, **flags: Any) -> dict[str, Any]:
        """Check PyTorch's implementation switches; returns them for the param groups.

        Each is refused when True, never ignored: foreach=True asks for grouped multi-tensor
        kernels this library does not have (the per-parameter step is the same math), and fused,
        capturable and differentiable would change what a step is (a fused kernel, CUDA-graph
        capture, a step autograd can see). False (and None) are accepted.
        """
        name = type(self).__name__
        if flags.get("fused") and flags.get("differentiable"):
            raise RuntimeError("`fused` does not support `differentiable`")
        if flags.get("fused") and flags.get("foreach"):
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        for flag, what in _REFUSED.items():
            if flags.get(flag):
                raise RuntimeError(f"{name}({flag}=True) is not supported: {what}; leave {flag} "
                                   f"at its default ({_FLAG_DEFAULTS[flag]})")
        return flags

    @staticmethod
    def _check_nonnegative(**values: float) -> None:
        """Raise PyTorch's "Invalid ... value" ValueError for the first negative hyperparameter."""
        for name, value in values.items():
            if isinstance(value, Tensor):
                if value.numel() != 1:
                    raise ValueError(f"Tensor {name} must be 1-element")
                value = value.item()
            if value < 0.0:
                label = _LABELS.get(name, f"{name} value")
                raise ValueError(f"Invalid {label}: {value}")

    def _buffer(self, like: Any, slot: int = 0) -> Any:
        """A scratch array shaped like `like`, reused across steps and same-shaped parameters."""
        # dtype objects hash; the device is looked up only off the CPU (this runs every step)
        key = (like.shape, like.dtype, "cpu" if type(like) is np.ndarray else
               backend.device_of(like), slot)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = backend.get_array_module(like).empty_like(like)
        return buf

    def _add_scaled(self, a: Any, x: Any, alpha: float, out: Any) -> Any:
        """out = a + alpha * x (PyTorch's add with alpha); out may alias a or x."""
        xp = backend.get_array_module(x)
        if alpha == 1:  # x * 1 is x exactly: skip that pass (SGD's momentum without dampening)
            return xp.add(a, x, out=out)
        tmp = self._buffer(x, _TMP)
        xp.multiply(x, alpha, out=tmp)
        return xp.add(a, tmp, out=out)

    def _lerp_(self, start: Any, end: Any, weight: float) -> None:
        """start += weight * (end - start) in place, with PyTorch's two-branch lerp formula."""
        xp = backend.get_array_module(start)
        tmp = xp.subtract(end, start, out=self._buffer(start, _TMP))
        if abs(weight) < 0.5:
            tmp *= weight
            start += tmp
        else:
            tmp *= 1 - weight
            xp.subtract(end, tmp, out=start)

    def _addcmul_(self, acc: Any, t1: Any, t2: Any, value: float) -> None:
        """acc += value * t1 * t2 in place (PyTorch's addcmul_)."""
        xp = backend.get_array_module(acc)
        tmp = xp.multiply(t1, value, out=self._buffer(acc, _TMP))
        tmp *= t2
        acc += tmp

    def _addcdiv_(self, param: Any, num: Any, den: Any, value: float) -> None:
        """param += value * num / den in place (PyTorch's addcdiv_)."""
        xp = backend.get_array_module(param)
        tmp = xp.divide(num, den, out=self._buffer(param, _TMP))
        tmp *= value
        param += tmp

    @staticmethod
    def _zeros_state(p: Tensor, value: float = 0.0) -> Tensor:
        """A state tensor shaped, typed and placed like parameter p, filled with value."""
        return Tensor._from_array(backend.full(p._device, p._data.shape, value, p._data.dtype),
                                  p._device)

    @staticmethod
    def _step_tensor(value: float = 0.0) -> Tensor:
        """A fresh step counter (or other scalar state): a 0-d float32 CPU tensor, as PyTorch's."""
        return Tensor._from_array(np.full((), value, dtype=np.float32))

    @staticmethod
    def _increment(step: Tensor) -> float:
        """Add one to a step counter in place and return its new value as a Python float."""
        step._data += 1
        return float(step._data)

    # ----- state dicts -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The state in PyTorch's layout: {"state": {index: {...}}, "param_groups": [...]}.

        State tensors are returned by reference, as PyTorch does; engine.save copies them to disk.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s and id(p) in index}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load state_dict() output: checks group sizes and state shapes, copies the arrays."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise OptimizerStateError("optimizer state dict must be a dict with keys 'state' and "
                                      "'param_groups' (as returned by Optimizer.state_dict())")
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise OptimizerStateError(
                f"loaded state dict has {len(saved_groups)} parameter group(s) but the optimizer "
                f"has {len(self.param_groups)}: build the optimizer with the same groups"
            )
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(group["params"]) != len(saved["params"]):
                raise OptimizerStateError(
                    f"parameter group {i} of the loaded state dict has {len(saved['params'])} "
                    f"parameter(s) but the optimizer's has {len(group['params'])}"
                )
        id_map = {}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            id_map.update(zip((int(k) for k in saved["params"]), group["params"], strict=True))
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            k = int(key)
            if k not in id_map:
                raise OptimizerStateError(f"loaded optimizer state has an entry for parameter {k}"
                                          " that no parameter group lists")
            p = id_map[k]
            new_state[p] = {name: self._load_state_value(p, k, name, v)
                            for name, v in value.items()}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            group.clear()
            group.update(saved)
        self.state = new_state

    def _load_state_value(self, p: Tensor, index: int, name: str, value: Any) -> Any:
        """One loaded state entry, copied onto parameter p's device (LBFGS overrides this)."""
        return _cast_state(p, index, name, value)


def _cast_state(p: Tensor, index: int, name: str, value: Any) -> Any:
    """Copy one state entry onto p's device (floating state also to p's dtype), checking shape."""
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    if name == "step":  # the step counter stays a CPU scalar whatever the parameter's device
        return Tensor._from_array(backend.to_numpy(value._data).copy())
    if value._data.ndim and tuple(value.shape) != tuple(p.shape):
        raise OptimizerStateError(
            f"optimizer state '{name}' of parameter {index} has shape {tuple(value.shape)} but "
            f"the parameter has shape {tuple(p.shape)}: the state dict is from another model"
        )
    array = backend.to_device(value._data, p._device)
    if array.dtype.kind == "f" and p._data.dtype.kind == "f":
        array = array.astype(p._data.dtype, copy=False)
    if array is value._data:
        array = array.copy()
    return Tensor._from_array(array, p._device)
