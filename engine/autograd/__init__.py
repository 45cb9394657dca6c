"""engine.autograd: the backward pass, autograd.grad/backward, gradcheck and custom Functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import backend
from engine.autograd._gradcheck import GradcheckError, gradcheck
from engine.autograd.backprop import run_backward, run_graph
from engine.function import Function as _Primitive
from engine.grad_mode import enable_grad, no_grad, set_grad_enabled


def __getattr__(name: str) -> Any:
    # The public Function imports engine.tensor, which imports this package: load it on use.
    if name in ("Function", "FunctionCtx", "InplaceFunction", "NestedIOFunction",
                "once_differentiable", "function"):
        import importlib  # noqa: PLC0415

        function = importlib.import_module("engine.autograd.function")
        return function if name == "function" else getattr(function, name)
    raise AttributeError(f"module 'engine.autograd' has no attribute '{name}'")


def _as_tuple(x: Any) -> tuple:
    if x is None:
        return ()
    return tuple(x) if isinstance(x, Sequence) and not hasattr(x, "_data") else (x,)


def _roots(tensors: tuple, grad_tensors: Any) -> tuple[Any, tuple]:
    """A node over every root tensor, and the incoming gradient arrays for it."""
    grads = _as_tuple(grad_tensors) if grad_tensors is not None else (None,) * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"grad can be implicitly created only for scalar outputs: got "
                           f"{len(grads)} gradients for {len(tensors)} tensors")
    arrays = []
    for i, (t, g) in enumerate(zip(tensors, grads, strict=True)):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = backend.full(t._device, t.shape, 1, t._data.dtype)  # made on t's GPU
        else:
            # a copy: .grad may keep the array, and it must not alias the caller's tensor
            if hasattr(g, "_data"):
                with backend.array_device(g._data):  # CuPy copies onto the current GPU
                    g = g._data.copy()
            else:
                g = backend.to_device(np.array(g, dtype=t._data.dtype), t._device)
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{tuple(g.shape)} and output[{i}] has a shape of "
                                   f"{tuple(t.shape)}.")
        arrays.append(g)
    root = _Roots.__new__(_Roots)
    root._next = tuple([t._grad_node() for t in tensors])
    root.needs_input_grad = (True,) * len(tensors)
    root._arrays = tuple(arrays)
    return root, root._arrays


class _Roots(_Primitive):
    """A node above several root tensors that hands each its starting gradient."""

    saves_inputs = False
    _arrays: tuple = ()

    def backward(self, grad: Any) -> tuple:
        return self._arrays


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Accumulate d(sum of tensors)/d(leaf) into each leaf's .grad, as torch.autograd.backward."""
    if create_graph:
        raise NotImplementedError("create_graph=True: higher-order gradients are not supported")
    tensors = _as_tuple(tensors)
    if inputs is not None:
        inputs = _as_tuple(inputs)
        found = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, allow_unused=True)
        for t, g in zip(inputs, found, strict=True):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    root, _ = _roots(tensors, grad_tensors)
    run_graph(root, None, bool(retain_graph))


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple[Any, ...]:
    """The gradients of outputs w.r.t. inputs, leaving every .grad untouched (first order)."""
    from engine.tensor import Tensor  # noqa: PLC0415 - cycle: tensor_autograd imports this package

    if create_graph:
        raise NotImplementedError("create_graph=True: higher-order gradients are not supported")
    if is_grads_batched:
        raise NotImplementedError("is_grads_batched=True is not supported")
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    root, _ = _roots(outputs, grad_outputs)
    capture = {t._grad_node(): None for t in inputs}
    run_graph(root, None, bool(retain_graph), capture=capture)
    result = []
    for t in inputs:
        g = capture[t._grad_node()]
        if g is None:
            if materialize_grads:
                zeros = backend.full(t._device, t.shape, 0, t._data.dtype)
                result.append(Tensor._from_array(zeros, t._device))
                continue
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
            result.append(None)
        else:
            if g.dtype != t._data.dtype:
                with backend.array_device(g):
                    g = g.astype(t._data.dtype)
            result.append(Tensor._from_array(g, t._device))
    return tuple(result)


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return hasattr(obj, "_data") and hasattr(obj, "grad_fn")  # every Tensor, as PyTorch

    def __call__(cls, data: Any, requires_grad: bool = False, volatile: bool = False) -> Any:
        from engine.tensor import Tensor  # noqa: PLC0415 - cycle, as in grad()

        source = data if isinstance(data, Tensor) else Tensor(data)
        out = source.detach()  # shares memory, a new leaf: what PyTorch's Variable(t) gives
        return out.requires_grad_(True) if requires_grad else out


class Variable(metaclass=_VariableMeta):
    """PyTorch's deprecated Variable: Variable(t, requires_grad) is a new leaf sharing t's data."""


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Accepted for PyTorch scripts: errors in backward already name the op, so this context
    (and decorator) only records the flag that is_anomaly_enabled reports."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        self._prev = _Anomaly.enabled
        _Anomaly.enabled = True

    def __exit__(self, *exc: object) -> None:
        _Anomaly.enabled = self._prev

    def __call__(self, fn: Any) -> Any:
        import functools  # noqa: PLC0415

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class _Anomaly:
    enabled = False


def set_detect_anomaly(mode: bool, check_nan: bool = True) -> None:
    """Record the anomaly-detection flag (see detect_anomaly)."""
    _Anomaly.enabled = bool(mode)


def is_anomaly_enabled() -> bool:
    """The flag set by set_detect_anomaly / detect_anomaly."""
    return _Anomaly.enabled


__all__ = ["Function", "FunctionCtx", "GradcheckError", "Variable", "backward", "detect_anomaly",
           "enable_grad", "grad", "gradcheck", "is_anomaly_enabled", "no_grad", "run_backward",
           "set_detect_anomaly", "set_grad_enabled"]
