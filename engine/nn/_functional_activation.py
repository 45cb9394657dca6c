"""Activation functions of engine.nn.functional (re-exported there): PyTorch's formulas, defaults.

inplace=True writes the result into the input and returns the input, as PyTorch does: the input's
version bumps and autograd takes the new values' history (tensor_inplace.maybe_inplace); a leaf
that requires grad is refused with PyTorch's error.
"""

from __future__ import annotations

from typing import Any

from engine.creation import where
from engine.ops import activation as act
from engine.ops.softmax import Softmax, implicit_dim
from engine.tensor import Tensor
from engine.tensor_inplace import maybe_inplace

# SELU's constants (Klambauer et al., 2017), as PyTorch spells them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return maybe_inplace(input, inplace, lambda x: act.Elu.apply(x._floating(), alpha=alpha))


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(x, alpha) with SELU's fixed constants."""
    return maybe_inplace(input, inplace, lambda x: act.Elu.apply(
        x._floating(), alpha=_SELU_ALPHA, scale=_SELU_SCALE))


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return maybe_inplace(input, inplace, lambda x: act.Elu.apply(
        x._floating(), alpha=alpha, input_scale=1.0 / alpha))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + exp(beta * x)) / beta, reverting to x where beta * x > threshold."""
    return act.Softplus.apply(input._floating(), beta=beta, threshold=threshold)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return maybe_inplace(input, inplace, lambda x: act.Hardtanh.apply(
        x, min_val=min_val, max_val=max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(x + 3) / 6."""
    return maybe_inplace(input, inplace, lambda x: act.Hardsigmoid.apply(x._floating()))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * relu6(x + 3) / 6."""
    return maybe_inplace(input, inplace, lambda x: act.Hardswish.apply(x._floating()))


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * sigmoid(x) (swish)."""
    return maybe_inplace(input, inplace, lambda x: act.Silu.apply(x._floating()))


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * tanh(softplus(x))."""
    return maybe_inplace(input, inplace, lambda x: act.Mish.apply(x._floating()))


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(x)), stable for large |x|."""
    return act.LogSigmoid.apply(input._floating())


def threshold(input: Tensor, threshold: float, value: float,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    return maybe_inplace(input, inplace, lambda x: act.Threshold.apply(
        x, threshold=threshold, value=value))


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """x for x > 0, weight * x otherwise; weight has one value or one per channel (dim 1)."""
    channels = input.shape[1] if input.ndim >= 2 else 1  # PyTorch: a 1-D input is one channel
    if weight.numel() not in (1, channels):
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found "
                           f"parameter numbers = {weight.numel()} and channel size = {channels}.")
    return act.Prelu.apply(input, weight)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype: Any = None) -> Tensor:
    """softmax(-x) along dim."""
    x = input if dtype is None else input.to(dtype)
    return Softmax.apply(-x._floating(), axis=implicit_dim(x.ndim) if dim is None else dim)


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """x - tanh(x)."""
    return input - input.tanh()


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """a * sigmoid(b) for the two halves a, b of input along dim."""
    size = input.shape[dim] if input.ndim else 0
    if input.ndim == 0 or size % 2:
        axis = dim % max(input.ndim, 1)
        raise RuntimeError(f"Halving dimension must be even, but dimension {axis} is size {size}")
    half = size // 2
    index = [slice(None)] * input.ndim
    index[dim] = slice(0, half)
    first = input[tuple(index)]
    index[dim] = slice(half, size)
    return first * input[tuple(index)].sigmoid()


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x where |x| > lambd, else 0."""
    return where(input.abs() > lambd, input, input * 0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return input - input.clamp(-lambd, lambd)
