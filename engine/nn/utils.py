"""nn.utils: gradient clipping by total norm or by value, and parameters to one vector and back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine import backend, creation
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters"]


def _with_grads(parameters: Tensor | Iterable[Tensor], name: str, foreach: Any) -> list[Tensor]:
    if foreach:  # refused, never ignored, as the optimizers refuse it
        raise RuntimeError(f"{name}(foreach=True) is not supported: there are no multi-tensor "
                           "(foreach) kernels here; leave foreach at its default (None)")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: Any = None) -> Tensor:
    """Scale all gradients in place so their joint norm is at most max_norm; return that norm."""
    params = _with_grads(parameters, "clip_grad_norm_", foreach)
    if not params:
        return Tensor(0.0)
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Any = None) -> Tensor:
    """The norm of all the tensors' values together, as if concatenated (PyTorch's)."""
    if foreach:
        raise RuntimeError("get_total_norm(foreach=True) is not supported: there are no "
                           "multi-tensor (foreach) kernels here; leave foreach at its default")
    tensors = [tensors] if isinstance(tensors, Tensor) else [t for t in tensors if t is not None]
    if not tensors:
        return Tensor(0.0)
    # Model parallelism puts gradients on several GPUs: as PyTorch does, each device reduces its
    # own, and the partial results meet on the first tensor's device.
    groups: dict[str, list[Any]] = {}
    for t in tensors:
        groups.setdefault(t._device, []).append(t._data)
    device, norm_type = tensors[0]._device, float(norm_type)
    partial = []
    for dev, arrays in groups.items():
        with backend.on_device(dev):
            partial.append(backend.to_device(_partial_norm(arrays, dev, norm_type), device))
    with backend.on_device(device):
        total = _total_norm(partial, device, norm_type, error_if_nonfinite)
    return Tensor._from_array(total, device)


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Tensor, foreach: Any = None) -> None:
    """Scale every gradient in place by min(max_norm / (total_norm + 1e-6), 1), as PyTorch."""
    params = _with_grads(parameters, "clip_grads_with_norm_", foreach)
    if not params:
        return
    xp, device = backend.array_module(total_norm._device), total_norm._device
    if backend.is_numpy(xp):
        coef: Any = min(float(max_norm) / (float(total_norm._data) + 1e-6), 1.0)
    else:  # the same float64 arithmetic on the GPU: reading the norm back would stop it
        with backend.on_device(device):
            coef = xp.minimum(float(max_norm) / (total_norm._data.astype(xp.float64) + 1e-6),
                              1.0)
    groups: dict[str, list[Tensor]] = {}
    for p in params:
        groups.setdefault(p.grad._device, []).append(p)
    for dev, members in groups.items():
        with backend.on_device(dev):
            on_dev = coef if isinstance(coef, float) or dev == device else \
                backend.to_device(coef, dev)
            _scale(members, on_dev)


def _partial_norm(grads: list[Any], device: str, norm_type: float) -> Any:
    """One device's share of the joint norm, a 0-d array there: max |g| (inf), min |g| (-inf),
    the count of arrays with a nonzero entry (0), else sum |g|**p."""
    xp = backend.array_module(device)
    if norm_type == float("inf"):
        return xp.max(xp.stack([xp.abs(g).max() for g in grads]))
    if norm_type == float("-inf"):
        return xp.min(xp.stack([xp.abs(g).min() for g in grads]))
    if norm_type == 0:
        # PyTorch's 0-"norm" of the per-tensor 0-norms (nonzero counts): the tensors with any
        # nonzero (NaN included) entry
        return xp.sum(xp.stack([(g != 0).any() for g in grads])).astype(grads[0].dtype)
    with backend.errstate(xp, divide="ignore"):  # 0 ** -p is inf, as in PyTorch
        return xp.sum(xp.stack([xp.sum(xp.abs(g) ** norm_type) for g in grads]))


def _total_norm(partial: list[Any], device: str, norm_type: float,
                error_if_nonfinite: bool) -> Any:
    """The joint norm from the devices' partial results, a 0-d array on device."""
    xp = backend.array_module(device)
    if norm_type == float("inf"):
        total = xp.max(xp.stack(partial))
    elif norm_type == float("-inf"):
        total = xp.min(xp.stack(partial))
    elif norm_type == 0:
        total = xp.sum(xp.stack(partial))
    else:
        total = xp.sum(xp.stack(partial)) ** (1.0 / norm_type)
    if error_if_nonfinite and not (float(total) < float("inf")):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return xp.asarray(total)


def _scale(params: list[Tensor], coef: Any) -> None:
    """Multiply each gradient by coef in place (PyTorch multiplies even when coef is 1)."""
    for p in params:
        dtype = p.grad._data.dtype
        p.grad._data *= dtype.type(coef) if isinstance(coef, float) else coef.astype(dtype)
        mark_written(p.grad)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: Any = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    for p in _with_grads(parameters, "clip_grad_value_", foreach):
        xp = backend.array_module(p.grad._device)
        with backend.on_device(p.grad._device):
            xp.clip(p.grad._data, -clip_value, clip_value, out=p.grad._data)
        mark_written(p.grad)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and joined into one vector (differentiable, a copy)."""
    params = list(parameters)
    _one_device(params)
    return creation.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Make each parameter's data the next slice of vec, reshaped: they share vec's memory."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    _one_device(params)
    start = 0
    for p in params:
        count = p.numel()
        p.data = vec[start:start + count].view_as(p).data
        start += count


def _one_device(params: list[Tensor]) -> None:
    if len({p._device for p in params}) > 1:
        raise TypeError("Found two parameters on different devices, this is currently not "
                        "supported.")
