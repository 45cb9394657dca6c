"""Linear, Identity, Flatten and Unflatten layers."""

from __future__ import annotations

import math
from typing import Any

from engine import creation, function
from engine.nn import functional as F
from engine.nn import init
from engine.nn.activation import ReLU
from engine.nn.module import Module, runs_own_forward
from engine.nn.parameter import Parameter
from engine.ops import linear as lin
from engine.tensor import Tensor


def _empty(*shape: int, device: Any = None, dtype: Any = None) -> Parameter:
    return Parameter(creation.empty(*shape, dtype=dtype, device=device))


def add_weight_and_bias(module: Module, weight_shape: tuple[int, ...], bias: bool, device: Any,
                        dtype: Any) -> None:
    """Register weight (and bias) and initialise them as PyTorch's Linear and Conv2d do."""
    module.weight = _empty(*weight_shape, device=device, dtype=dtype)
    if bias:
        module.bias = _empty(weight_shape[0], device=device, dtype=dtype)
    else:
        module.register_parameter("bias", None)
    reset_weight_and_bias(module)


def reset_weight_and_bias(module: Module) -> None:
    """kaiming_uniform_(a=sqrt(5)) weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias."""
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if module.bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(module.weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(module.bias, -bound, bound)


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """input."""
        return input


class Linear(Module):
    """y = x @ weight.T + bias, weight (out_features, in_features), PyTorch's initialisation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        add_weight_and_bias(self, (out_features, in_features), bias, device, dtype)

    def reset_parameters(self) -> None:
        """kaiming_uniform_(a=sqrt(5)) weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias."""
        reset_weight_and_bias(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """The affine map, one fused op."""
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def linear_then_relu(linear: Module, relu: Module, input: Any) -> Tensor | None:  # noqa: A002
    """relu(linear(input)) as one node (ops.linear.LinearRelu), or None where that could differ
    from calling the two: hooks or a forward set on an instance, an export trace (which records
    each op), an autocast region (which casts per op), a subclass's own forward, an input that
    is not a Tensor. Sequential calls it for each Linear, ReLU pair; an in-place ReLU fuses too,
    as nobody else holds the Linear's output it would write. Saves a node, a tensor and a pass
    of a small MLP's step."""
    if (type(linear) is not Linear or type(relu) is not ReLU or type(input) is not Tensor
            or not runs_own_forward(linear, relu) or function.trace_hook is not None
            or function.autocast_hook is not None):
        return None
    weight, bias = linear.weight, linear.bias
    F.check_linear(input, weight)
    return lin.LinearRelu.apply(input, weight) if bias is None else \
        lin.LinearRelu.apply(input, weight, bias)


class Flatten(Module):
    """Merge dims start_dim..end_dim (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """input.flatten(start_dim, end_dim)."""
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim into unflattened_size."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """input.unflatten(dim, unflattened_size)."""
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
