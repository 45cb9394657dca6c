"""Fused losses: cross-entropy (log-softmax + NLL in one node), NLL, BCE with logits."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backend import errstate, get_array_module, is_numpy
from engine.function import Function
from engine.ops import jit
from engine.ops.util import unbroadcast


def _classes_last(a: Any) -> Any:
    """(N, C, d1, ...) -> (N*d1*..., C); (N, C) and (C,) pass through as 2-D."""
    if a.ndim == 1:
        return a.reshape(1, -1)
    if a.ndim == 2:
        return a
    return get_array_module(a).moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _classes_back(g2: Any, shape: tuple[int, ...]) -> Any:
    """Inverse of _classes_last for a gradient."""
    if len(shape) <= 2:
        return g2.reshape(shape)
    moved = g2.reshape((shape[0],) + shape[2:] + (shape[1],))
    return get_array_module(g2).moveaxis(moved, -1, 1)


def _reduce(per_item: Any, reduction: str, denominator: Any, out_shape: tuple[int, ...]) -> Any:
    if reduction == "none":
        return per_item.reshape(out_shape)
    total = per_item.sum()
    return total if reduction == "sum" else _divided(total, denominator)


def _divided(value: Any, denominator: Any) -> Any:
    """value / denominator, where a zero denominator (a mean over no counted rows) gives inf or
    NaN without NumPy's warning, as PyTorch's does."""
    if type(denominator) is int and denominator:  # the usual case: nothing to hush
        return value / denominator
    with errstate(get_array_module(value), divide="ignore", invalid="ignore"):
        return value / denominator


def _row_scale(g: Any, reduction: str, denominator: Any, rows: int) -> Any:
    """The upstream gradient as one factor per row (M, 1)."""
    if reduction == "none":
        return g.reshape(rows, 1)
    return (_divided(g, denominator) if reduction == "mean" else g).reshape(1, 1)


def _ignored_rows_zero(xp: Any, scale: Any, valid: Any) -> Any:
    """scale as (M, 1) factors that are 0 on ignored rows: PyTorch never writes their gradient,
    so they stay 0 even where the factor is NaN (a mean over no counted rows divides by 0)."""
    return xp.where(valid.reshape(-1, 1), scale, 0)


class _ClassLoss(Function):
    """Shared target handling of NLL and cross-entropy over class indices."""

    saves_inputs = False

    def _targets(self, xp: Any, target: Any, weight: Any, ignore_index: int, rows: int,
                 classes: int, dtype: Any) -> None:
        target = target.reshape(rows)
        self.valid = target != ignore_index
        if is_numpy(xp):  # the targets were checked on the host (_check_class_target)
            self.tgt = xp.where(self.valid, target, 0)
            w_t = self.valid.astype(dtype)
        else:
            # A GPU is not stopped each step to check the targets on the host: a target out of
            # range gives its row a NaN weight, so the loss is NaN rather than a wrapped index.
            in_range = (target >= 0) & (target < classes)
            self.tgt = xp.where(self.valid & in_range, target, 0)
            w_t = xp.where(in_range | ~self.valid, self.valid.astype(dtype), xp.nan)
            w_t = w_t.astype(dtype, copy=False)
        if weight is not None:
            w_t *= weight.astype(dtype, copy=False)[self.tgt]
        self.w_t = w_t


class CrossEntropy(_ClassLoss):
    """-sum_c q_c log_softmax(x)_c per row, q from class indices (+ smoothing) or probabilities."""

    def forward(self, x: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
        xp = get_array_module(x)
        z = _classes_last(x)
        rows, classes = z.shape
        self.in_shape, self.reduction, self.eps = x.shape, reduction, label_smoothing
        w_row = None if weight is None else weight.astype(x.dtype, copy=False).reshape(1, classes)
        self.w_row, self.q = w_row, None
        if weight is None and not label_smoothing and reduction != "none" and x.ndim == 2 \
                and jit.plain_float(x) and jit.plain_int64(target) and target.ndim == 1:
            loss = self._compiled_forward(x, target, ignore_index, reduction)
            if loss is not None:  # before the NumPy log-softmax below, which it replaces
                return loss
        shifted = z - z.max(axis=1, keepdims=True)
        self.logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        if target.dtype.kind == "f":  # class probabilities
            self.rows_all = False
            q = _classes_last(target).astype(x.dtype, copy=False)
            if label_smoothing:
                q = q * (1 - label_smoothing) + label_smoothing / classes
            self.q = q if w_row is None else q * w_row
            per_row = -(self.q * self.logp).sum(axis=1)
            self.denominator = rows
            return _reduce(per_row, reduction, rows, target.shape[:1] + target.shape[2:])
        # Whether any target is ignored is read on the host, so a GPU always takes the masks.
        self.rows_all = weight is None and not label_smoothing and is_numpy(xp) and \
            not (target == ignore_index).any()
        if self.rows_all:
            # The usual case (no weights, smoothing or ignored rows): every row has weight 1,
            # so the masks and weight products below would all be ones.
            self.tgt = target.reshape(rows)
            self.denominator = rows
            per_row = -self.logp[xp.arange(rows), self.tgt]
            return _reduce(per_row, reduction, rows, target.shape).astype(x.dtype, copy=False)
        self._targets(xp, target, weight, ignore_index, rows, classes, x.dtype)
        per_row = -self.logp[xp.arange(rows), self.tgt] * self.w_t
        # Weighted mean divides by the summed weights of the non-ignored targets, as PyTorch.
        self.denominator = self.w_t.sum()
        if label_smoothing:
            full = self.logp if w_row is None else self.logp * w_row
            smooth = -full.sum(axis=1) * self.valid
            if reduction == "mean":  # each part its own mean, as PyTorch: 0 weight gives NaN
                return ((1 - label_smoothing) * _divided(per_row.sum(), self.denominator) +
                        (label_smoothing / classes) * _divided(smooth.sum(), self.denominator)
                        ).astype(x.dtype)
            per_row = (1 - label_smoothing) * per_row + (label_smoothing / classes) * smooth
        return _reduce(per_row, reduction, self.denominator, target.shape).astype(x.dtype)

    def _compiled_forward(self, x: Any, target: Any, ignore_index: int,
                          reduction: str) -> Any:
        """The usual case (every row weighted 1, mean or sum) in one compiled pass instead of
        ~12 small NumPy calls; None where the kernels are off or a target is ignored."""
        fast = jit.kernels()
        if fast is None:
            return None
        logp = np.empty_like(x)
        total, general = fast.log_softmax_nll(x, target, ignore_index, logp)
        if general:
            return None
        rows = x.shape[0]
        self.logp, self.tgt, self.denominator, self.rows_all = logp, target, rows, True
        if reduction == "mean":  # a mean over no rows is NaN, as PyTorch's (0 / 0)
            return x.dtype.type(total / rows if rows else np.nan)
        return x.dtype.type(total)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        rows, classes = self.logp.shape
        scale = _row_scale(g, self.reduction, self.denominator, rows)
        if self.q is None and self.rows_all and scale.size == 1 and \
                scale.dtype == self.logp.dtype and jit.plain_float(self.logp) and \
                jit.plain_int64(self.tgt) and len(self.in_shape) == 2 and \
                (fast := jit.kernels()) is not None:
            grad = np.empty_like(self.logp)
            fast.softmax_nll_backward(self.logp, self.tgt, scale.reshape(-1)[0], grad)
            return grad
        p = xp.exp(self.logp)
        if self.q is None and self.rows_all:
            p[xp.arange(rows), self.tgt] -= 1  # p is a fresh array: the gradient is built in it
            if scale.dtype == p.dtype:
                p *= scale
                return _classes_back(p, self.in_shape)
            return _classes_back((p * scale).astype(p.dtype, copy=False), self.in_shape)
        smooth = None
        if self.q is not None:
            grad = p * self.q.sum(axis=1, keepdims=True) - self.q
        else:
            eps = self.eps
            scale = _ignored_rows_zero(xp, scale, self.valid)
            grad = p * ((1 - eps) * self.w_t)[:, None]
            grad[xp.arange(rows), self.tgt] -= (1 - eps) * self.w_t
            if eps:  # the smoothing part scaled apart, as PyTorch's sum of two losses is
                smooth_w = classes if self.w_row is None else self.w_row.sum()
                w_row = 1.0 if self.w_row is None else self.w_row
                smooth = p * ((eps / classes) * smooth_w * self.valid)[:, None]
                smooth -= (eps / classes) * w_row * self.valid[:, None]
        with errstate(xp, invalid="ignore"):  # a zero weight times a 1/0 scale: NaN, as PyTorch
            grad = grad * scale if smooth is None else grad * scale + smooth * scale
        return _classes_back(grad.astype(self.logp.dtype, copy=False), self.in_shape)


class NLLLoss(_ClassLoss):
    """-weight[t] * x[t] per row, for log-probabilities x."""

    def forward(self, x: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                reduction: str = "mean") -> Any:
        xp = get_array_module(x)
        z = _classes_last(x)
        rows, classes = z.shape
        self.in_shape, self.reduction = x.shape, reduction
        self._targets(xp, target, weight, ignore_index, rows, classes, x.dtype)
        per_row = -z[xp.arange(rows), self.tgt] * self.w_t
        self.denominator = self.w_t.sum()
        return _reduce(per_row, reduction, self.denominator, target.shape).astype(x.dtype)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        rows = self.w_t.shape[0]
        scale = _ignored_rows_zero(xp, _row_scale(g, self.reduction, self.denominator, rows),
                                   self.valid)
        classes = self.in_shape[1] if len(self.in_shape) > 1 else self.in_shape[0]
        grad = xp.zeros((rows, classes), dtype=g.dtype)
        # Only the target entries are scaled, as PyTorch writes them: a zero weight's 0 * (1/0)
        # is NaN there alone. 0 - w: an ignored row's 0, never -0.0.
        with errstate(xp, invalid="ignore"):
            grad[xp.arange(rows), self.tgt] = 0 - self.w_t * scale.reshape(-1)
        return _classes_back(grad, self.in_shape)


class BCEWithLogits(Function):
    """weight * (pos_weight * y * softplus(-x) + (1 - y) * softplus(x)), stable for any x."""

    def forward(self, x: Any, y: Any, weight: Any = None, pos_weight: Any = None,
                reduction: str = "mean") -> Any:
        xp = get_array_module(x)
        self.x, self.y, self.weight, self.pos_weight = x, y, weight, pos_weight
        self.reduction = reduction
        soft_pos = xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))  # softplus(x)
        soft_neg = soft_pos - x  # softplus(-x)
        pos = y * soft_neg if pos_weight is None else pos_weight * y * soft_neg
        loss = pos + (1 - y) * soft_pos
        if weight is not None:
            loss = loss * weight
        self.count = loss.size
        if reduction == "none":
            return loss.astype(x.dtype, copy=False)
        total = loss.sum() if reduction == "sum" else loss.mean()
        return total.astype(x.dtype)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        x, y = self.x, self.y
        if self.reduction == "mean":
            g = g / self.count
        sig = xp.tanh(x * 0.5) * 0.5 + 0.5
        pw = 1.0 if self.pos_weight is None else self.pos_weight
        w = 1.0 if self.weight is None else self.weight
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = unbroadcast((-pw * y * (1 - sig) + (1 - y) * sig) * w * g, x.shape)
            gx = gx.astype(x.dtype, copy=False)
        if self.needs_input_grad[1]:
            soft_pos = xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
            gy = unbroadcast((pw * (soft_pos - x) - soft_pos) * w * g, y.shape)
        return gx, gy
