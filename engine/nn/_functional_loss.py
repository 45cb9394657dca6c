"""Loss functions of engine.nn.functional (re-exported there); each is one fused op or a few."""

from __future__ import annotations

from typing import Any

from engine.ops import loss as ops
from engine.tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: str, size_average: Any = None, reduce: Any = None) -> str:
    """Validate reduction; map PyTorch's deprecated size_average/reduce flags onto it."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _raw(value: Any, like: Tensor) -> Any:
    """A raw array on like's device (None stays None)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.to(like._device)._data
    return Tensor._from_data(value, device=like._device)._data


def _check_class_target(input: Tensor, target: Any, ignore_index: int) -> None:  # noqa: A002
    shape = input._data.shape  # the raw tuple: this check runs every step
    batch_in = shape[0] if input.ndim > 1 else 1
    batch_t = target.shape[0] if target.ndim > 0 else 1
    if input.ndim > 1 and batch_in != batch_t:
        raise ValueError(f"Expected input batch_size ({batch_in}) to match target batch_size "
                         f"({batch_t}).")
    expected = shape[:1] + shape[2:] if input.ndim > 1 else ()
    if tuple(target.shape) != tuple(expected):
        raise RuntimeError(f"expected target of shape {list(expected)} for input of shape "
                           f"{list(input.shape)}, got {list(target.shape)}")
    classes = shape[1] if input.ndim > 1 else shape[0]
    valid = target[target != ignore_index]
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= classes):
        bad = int(valid.max()) if int(valid.max()) >= classes else int(valid.min())
        raise IndexError(f"Target {bad} is out of bounds (expected 0..{classes - 1}).")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Log-softmax over dim 1 plus NLL, as one fused op; targets are indices or probabilities."""
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    t = _raw(target, input)
    x = input._floating()
    if t.dtype.kind == "f":
        if tuple(t.shape) != tuple(x.shape):
            raise RuntimeError(f"probability targets must have the input's shape "
                               f"{list(x.shape)}, got {list(t.shape)}")
    else:
        _check_class_target(x, t, ignore_index)
    return ops.CrossEntropy.apply(x, target=t, weight=_raw(weight, input),
                                  ignore_index=ignore_index, reduction=reduction,
                                  label_smoothing=label_smoothing)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities (class dim 1)."""
    reduction = _reduction(reduction, size_average, reduce)
    t = _raw(target, input)
    _check_class_target(input, t, ignore_index)
    return ops.NLLLoss.apply(input, target=t, weight=_raw(weight, input),
                             ignore_index=ignore_index, reduction=reduction)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
             reduce: Any = None, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error."""
    reduction = _reduction(reduction, size_average, reduce)
    diff = input - target
    loss = diff * diff
    return _reduce(loss if weight is None else loss * weight, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
            reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    return _reduce((input - target).abs(), _reduction(reduction, size_average, reduce))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy fused, stable for large logits."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({list(target.shape)}) must be the same as input size "
                         f"({list(input.shape)})")
    x = input._floating()
    y = target if isinstance(target, Tensor) else Tensor(target, device=x._device)
    y = y.to(x.dtype)
    return ops.BCEWithLogits.apply(x, y, weight=_raw(weight, x), pos_weight=_raw(pos_weight, x),
                                   reduction=reduction)
