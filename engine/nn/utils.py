"""nn.utils: gradient clipping by total norm or by value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine import backend
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


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
    # Model parallelism puts gradients on several GPUs: as PyTorch does, each device sums its
    # own, the partial sums meet on the first gradient's device, and each device scales its own.
    groups: dict[str, list[Tensor]] = {}
    for p in params:
        groups.setdefault(p.grad._device, []).append(p)
    device, norm_type = params[0].grad._device, float(norm_type)
    partial = []
    for dev, members in groups.items():
        with backend.on_device(dev):
            partial.append(backend.to_device(_partial_norm(members, dev, norm_type), device))
    with backend.on_device(device):
        total, coef = _total_norm(partial, device, float(max_norm), norm_type,
                                  error_if_nonfinite)
    for dev, members in groups.items():
        with backend.on_device(dev):
            _scale(members, coef if dev == device else backend.to_device(coef, dev))
    return Tensor._from_array(total, device)


def _partial_norm(params: list[Tensor], device: str, norm_type: float) -> Any:
    """One device's share of the joint norm, a 0-d array there: max |g| (inf), min |g| (-inf),
    the count of gradients with a nonzero entry (0), else sum |g|**p."""
    xp = backend.array_module(device)
    grads = [p.grad._data for p in params]
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


def _total_norm(partial: list[Any], device: str, max_norm: float, norm_type: float,
                error_if_nonfinite: bool) -> tuple[Any, Any]:
    """The joint norm from the devices' partial results, and the clamped scale coefficient."""
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
    if backend.is_numpy(xp):
        return xp.asarray(total), min(max_norm / (float(total) + 1e-6), 1.0)
    # the same float64 arithmetic on the GPU: reading the norm back would stop it
    return xp.asarray(total), xp.minimum(max_norm / (total.astype(xp.float64) + 1e-6), 1.0)


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
