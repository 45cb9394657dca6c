"""Loss functions of engine.nn.functional (re-exported there); each is one fused op or a few."""

from __future__ import annotations

import warnings
from typing import Any

from engine import backend
from engine.creation import where
from engine.function import device_mismatch
from engine.ops import jit
from engine.ops import loss as ops
from engine.ops import loss_pointwise as pw
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


def _raw(value: Any, like: Tensor, op: str) -> Any:
    """A raw array on like's device (None stays None); a Tensor elsewhere is refused, as
    PyTorch refuses it (moving it each step would hide a copy in the training loop)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        if value._device != like._device:
            raise device_mismatch(like._device, value._device, op)
        return value._data
    return Tensor._from_data(value, device=like._device)._data


def _all_classes(target: Any, classes: int) -> bool:
    """Whether every target (a NumPy array) is a class index 0..classes-1."""
    if target.ndim == 1 and jit.plain_int64(target) and (fast := jit.kernels()) is not None:
        return fast.all_classes(target, classes)  # one compiled pass: ~10 us less per step
    return 0 <= int(target.min()) and int(target.max()) < classes


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
    if not backend.is_numpy(backend.get_array_module(target)):
        return  # reading the targets back would stop the GPU each step (see ops.loss._targets)
    if target.size and _all_classes(target, classes):
        return  # every target is a class (the usual case): no mask of ignored ones needed
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
    t = _raw(target, input, "cross_entropy")
    x = input._floating()
    if t.dtype.kind == "f":
        if tuple(t.shape) != tuple(x.shape):
            raise RuntimeError(f"probability targets must have the input's shape "
                               f"{list(x.shape)}, got {list(t.shape)}")
    else:
        _check_class_target(x, t, ignore_index)
    return ops.CrossEntropy.apply(x, target=t, weight=_raw(weight, input, "cross_entropy"),
                                  ignore_index=ignore_index, reduction=reduction,
                                  label_smoothing=label_smoothing)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities (class dim 1)."""
    reduction = _reduction(reduction, size_average, reduce)
    t = _raw(target, input, "nll_loss")
    _check_class_target(input, t, ignore_index)
    return ops.NLLLoss.apply(input, target=t, weight=_raw(weight, input, "nll_loss"),
                             ignore_index=ignore_index, reduction=reduction)


def _size_warning(input: Tensor, target: Tensor) -> None:  # noqa: A002
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({_size(target)}) that is different to the input size "
                      f"({_size(input)}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)


def _size(t: Any) -> str:
    return f"torch.Size({list(t.shape)})"


def _pointwise(op: Any, input: Tensor, target: Any, reduction: str,  # noqa: A002
               weight: Tensor | None = None, weighted_mean: bool = False, divisor: Any = None,
               **params: Any) -> Tensor:
    """Run an elementwise loss op: float input, target as a tensor of its dtype, constant weight.

    weighted_mean: 'mean' divides by the summed weights (PyTorch's weighted mse and l1 losses).
    """
    x = input._floating()
    y = target if isinstance(target, Tensor) else Tensor(target, device=x._device)
    y = y if y.dtype == x.dtype else y.to(x.dtype)
    w = _raw(weight, x, op.__name__)
    if w is not None:
        if weighted_mean and tuple(w.shape) != tuple(x.shape):
            raise ValueError("Weights and input must have the same size.")
        with backend.on_device(x._device):
            w = w.astype(x._data.dtype, copy=False)
    if weighted_mean and w is not None and reduction == "mean":
        divisor = w.sum()
    return op.apply(x, y, weight=w, reduction=reduction, divisor=divisor, **params)


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
             reduce: Any = None, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error (a weighted mean divides by the summed weights)."""
    reduction = _reduction(reduction, size_average, reduce)
    _size_warning(input, target)
    return _pointwise(pw.MSELoss, input, target, reduction, weight, weighted_mean=True)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
            reduce: Any = None, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean absolute error (a weighted mean divides by the summed weights)."""
    reduction = _reduction(reduction, size_average, reduce)
    _size_warning(input, target)
    return _pointwise(pw.L1Loss, input, target, reduction, weight, weighted_mean=True)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
                   reduce: Any = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Squared error below beta (scaled by 1/beta), absolute error above; beta=0 is L1."""
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _size_warning(input, target)
    if beta == 0.0:
        return _pointwise(pw.L1Loss, input, target, reduction)
    return _pointwise(pw.SmoothL1Loss, input, target, reduction, beta=beta)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """Squared error below delta, delta-scaled absolute error above (delta * smooth L1)."""
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _size_warning(input, target)
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    return _pointwise(pw.HuberLoss, input, target, reduction, weight, delta=delta)


def binary_cross_entropy(input: Tensor, target: Tensor,  # noqa: A002
                         weight: Tensor | None = None, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities; logs are clamped at -100, as in PyTorch."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({_size(target)}) that is different to the input "
                         f"size ({_size(input)}) is deprecated. Please ensure they have the same "
                         "size.")
    return _pointwise(pw.BinaryCrossEntropy, input, target, reduction, weight)


def kl_div(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
           reduce: Any = None, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence of target from input (log-probabilities); 'batchmean' divides by the batch."""
    if size_average is not None or reduce is not None:
        reduction = _reduction("mean", size_average, reduce)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    if reduction == "batchmean":  # the sum over the batch size (dim 0), as PyTorch
        batch = input.shape[0] if input.ndim else 1
        return _pointwise(pw.KLDivLoss, input, target, "sum", divisor=batch,
                          log_target=log_target)
    return _pointwise(pw.KLDivLoss, input, target, _reduction(reduction), log_target=log_target)


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
    name = "binary_cross_entropy_with_logits"
    return ops.BCEWithLogits.apply(x, y, weight=_raw(weight, x, name),
                                   pos_weight=_raw(pos_weight, x, name),
                                   reduction=reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin), target in {1, -1}."""
    reduction = _reduction(reduction, size_average, reduce)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {_size(input1)}, input2: {_size(input2)}, "
                           f"target: {_size(target)} ")
    loss = (-target * (input1 - input2) + margin).clamp(min=0)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average: Any = None, reduce: Any = None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1."""
    reduction = _reduction(reduction, size_average, reduce)
    if input1.shape != input2.shape:
        raise RuntimeError(f"cosine_embedding_loss: input1 and input2 must have the same shape, "
                           f"got {_size(input1)} and {_size(input2)}")
    dim = input1.ndim - 1  # the feature dim: 1 for a batch, 0 for one pair
    eps = 1e-12  # PyTorch's guard against zero-length vectors
    prod = (input1 * input2).sum(dim)
    norms = (((input1 * input1).sum(dim) + eps) * ((input2 * input2).sum(dim) + eps)).sqrt()
    cos = prod / norms
    zeros = cos * 0
    t = _raw(target, cos, "cosine_embedding_loss")
    with backend.on_device(cos._device):  # raw comparisons, outside an op
        positive, negative = t == 1, t == -1
    loss = _where(positive, 1 - cos, zeros) + _where(negative, (cos - margin).clamp(min=0), zeros)
    return _reduce(loss, reduction)


def _where(condition: Any, a: Tensor, b: Tensor) -> Tensor:
    return where(Tensor._from_array(condition, a._device), a, b)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss
