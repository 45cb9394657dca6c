"""Adam (optionally AMSGrad) and AdamW (decoupled weight decay) with PyTorch's formulas."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from engine import backend
from engine.ops import jit
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class Adam(Optimizer):
    """Adam: bias-corrected moving averages of the gradient and of its square."""

    _flat_small = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        self._check_nonnegative(lr=lr, eps=eps)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        self._check_nonnegative(weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize,
                    **self._implementation_flags(foreach=foreach, capturable=capturable,
                                                 differentiable=differentiable, fused=fused),
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _step_together(self, index: int, group: dict[str, Any]) -> Collection[int]:
        """With the compiled kernels, one kernel call per parameter (see _compiled_steps);
        else the group's small parameters over flat arrays."""
        fast = jit.kernels()
        if fast is None or group["amsgrad"] or group["maximize"] or \
                group["weight_decay"] != 0 and not group["decoupled_weight_decay"]:
            return super()._step_together(index, group)
        return _compiled_steps(self, fast, group)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        # The hot loop of most training runs: every line is one pass over the parameter, written
        # in place into state or into two reused scratch arrays (see _adam_math for the math).
        param = p._data
        if not state:  # lazy initialisation, as PyTorch does on the first step
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_state(p)
            state["exp_avg_sq"] = self._zeros_state(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = self._zeros_state(p)
        xp = np if type(param) is np.ndarray else backend.get_array_module(param)
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        lr, wd = group["lr"], group["weight_decay"]
        step = self._increment(state["step"])
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * wd
            else:
                grad = self._add_scaled(grad, param, wd, out=self._buffer(param))
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        if group["amsgrad"]:
            max_sq = state["max_exp_avg_sq"]._data
        elif xp is np and _fused_adam(param, grad, exp_avg, exp_avg_sq, lr, group["betas"],
                                      group["eps"], step):
            return
        else:
            max_sq = None
        _adam_math(xp, param, grad, exp_avg, exp_avg_sq, max_sq, self._buffer(param, 1),
                   self._buffer(param, 2), lr, group["betas"], group["eps"], step)


def _compiled_steps(opt: Adam, fast: Any, group: dict[str, Any]) -> set[int]:
    """Step each parameter of a group without amsgrad or maximize whose arrays the compiled
    kernel takes with one adam_step call, the bookkeeping inlined; returns their indices.

    What a small model's step costs is this bookkeeping: per parameter, _update and step()'s
    loop cost ~10 us of Python beside a 1 us kernel call (measured on an MLP's four tensors).
    The values are bitwise those of _update's compiled path (same scalars, same kernel). A first
    step (no state yet) and anything the kernel cannot take is left to _update.
    """
    lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
    wd = group["weight_decay"]
    states, done = opt.state, set()
    for i, p in enumerate(group["params"]):
        grad = p._grad
        if grad is None:
            continue
        state = states.get(p)
        if state is None or len(state) != 3:  # not yet initialised, or another optimizer's
            continue
        step, exp_avg, exp_avg_sq = state.get("step"), state.get("exp_avg"), \
            state.get("exp_avg_sq")
        if type(step) is not Tensor or type(exp_avg) is not Tensor or \
                type(exp_avg_sq) is not Tensor:
            continue
        param = p._data
        if not jit.plain_float(param, grad._data, exp_avg._data, exp_avg_sq._data):
            continue
        if wd != 0:
            param *= 1 - lr * wd  # decoupled (AdamW); the caller leaves coupled decay to _update
        count = step._data
        count.fill(float(count) + 1)  # exact, as count += 1 is, and 1.3 us cheaper on a 0-d array
        t = float(count)
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        # Python floats: numba rounds them to the arrays' dtype as NumPy's scalars would
        fast.adam_step(param.reshape(-1), grad._data.reshape(-1), exp_avg._data.reshape(-1),
                       exp_avg_sq._data.reshape(-1), beta1, 1 - beta1, beta2, 1 - beta2,
                       eps * bias_correction2_sqrt, -lr * bias_correction2_sqrt / (1 - beta1**t))
        p._vc[0] += 1  # written in place: what mark_written(p, *state tensors) does
        step._vc[0] += 1
        exp_avg._vc[0] += 1
        exp_avg_sq._vc[0] += 1
        done.add(i)
    return done


def _fused_adam(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, lr: float,
                betas: tuple[float, float], eps: float, step: float) -> bool:
    """_adam_math's update as one compiled pass (6x faster on 100k float32 parameters than its
    12 NumPy passes, measured; bitwise the same); False where the kernels cannot take it."""
    fast = jit.kernels()
    if fast is None or not jit.plain_float(param, grad, exp_avg, exp_avg_sq):
        return False
    beta1, beta2 = betas
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    t = param.dtype.type  # the scalars NumPy's in-place passes would cast them to
    fast.adam_step(param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1),
                   exp_avg_sq.reshape(-1), t(beta1), t(1 - beta1), t(beta2), t(1 - beta2),
                   t(eps * bias_correction2_sqrt),
                   t(-lr * bias_correction2_sqrt / (1 - beta1**step)))
    return True


def _adam_math(xp: Any, param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_sq: Any,
               tmp: Any, denom: Any, lr: float, betas: tuple[float, float], eps: float,
               step: float) -> None:
    """One Adam update in place: PyTorch's formula in 12 array passes instead of 13, and cheaper.

    PyTorch computes m.lerp_(g, 1 - b1); v = b2 v + (1 - b2) g g; d = sqrt(v) / sqrt(bc2) + eps;
    p -= lr / bc1 * m / d. Here m = b1 m + (1 - b1) g (lerp's value, with in-place passes where
    lerp needs a three-array one) and d = sqrt(v) + eps sqrt(bc2), p -= lr sqrt(bc2) / bc1 * m / d
    (the same quotient, the scalar division moved out of the array pass). Each differs from
    PyTorch by rounding only.
    """
    beta1, beta2 = betas
    exp_avg *= beta1
    xp.multiply(grad, 1 - beta1, out=tmp)
    exp_avg += tmp
    exp_avg_sq *= beta2
    xp.multiply(grad, 1 - beta2, out=tmp)
    tmp *= grad
    exp_avg_sq += tmp
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    second = exp_avg_sq if max_sq is None else xp.maximum(max_sq, exp_avg_sq, out=max_sq)
    xp.sqrt(second, out=denom)
    denom += eps * bias_correction2_sqrt
    xp.divide(exp_avg, denom, out=tmp)
    tmp *= -lr * bias_correction2_sqrt / (1 - beta1**step)
    param += tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: parameters shrink by lr * weight_decay each step."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
