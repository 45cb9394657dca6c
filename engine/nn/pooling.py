"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d."""

from __future__ import annotations

from typing import Any

from engine import function
from engine.nn import functional as F
from engine.nn.activation import ReLU
from engine.nn.conv import Conv2d
from engine.nn.module import Module, runs_own_forward
from engine.ops import conv_pool, pool
from engine.ops.util import pair
from engine.tensor import Tensor


class MaxPool2d(Module):
    """Max over kernel windows; stride defaults to kernel_size."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Max pooling."""
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over kernel windows; stride defaults to kernel_size."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Average pooling."""
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Adaptive average pooling."""
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def relu_then_max_pool(relu: Module, pooling: Module, input: Any) -> Tensor | None:  # noqa: A002
    """pooling(relu(input)) as one fused op (one pass forward, one back, no ReLU mask), or None
    where that would differ from calling the two: hooks or a forward set on an instance, an
    in-place ReLU (whose write to input callers may see), indices asked for, an export trace
    (which records each op), or an input the compiled 2x2 path does not take. Sequential calls
    it for each ReLU, MaxPool2d pair."""
    if (type(pooling) is not MaxPool2d or type(relu) is not ReLU or relu.inplace
            or pooling.return_indices or not runs_own_forward(relu, pooling)
            or function.trace_hook is not None or type(input) is not Tensor or input.ndim != 4):
        return None
    kernel, stride, padding = F._pool_args(pooling.kernel_size, pooling.stride, pooling.padding,
                                           "effective kernel")
    dilation = pair(pooling.dilation, "dilation")
    if not pool.fuses_relu(input._data, kernel, stride, padding, dilation, pooling.ceil_mode):
        return None
    return pool.MaxPool2d.apply(input, kernel=kernel, stride=stride, padding=padding,
                                dilation=dilation, ceil_mode=pooling.ceil_mode, relu=True)


def conv_relu_pool(conv: Module, relu: Module, pooling: Module, input: Any) -> Tensor | None:  # noqa: A002
    """pooling(relu(conv(input))) as one node (ops.conv_pool.ConvReluPool), or None where that
    could differ from calling the three: hooks or a forward set on an instance, an export trace
    or autocast region (which see each op), indices asked for, a subclass's own forward, an
    input the compiled 2x2 pooling does not take. An in-place ReLU fuses too: nobody else holds
    the convolution's output. Sequential calls it for each Conv2d, ReLU, MaxPool2d run."""
    if (type(conv) is not Conv2d or type(relu) is not ReLU or type(pooling) is not MaxPool2d
            or pooling.return_indices or type(input) is not Tensor or input.ndim != 4
            or function.trace_hook is not None or function.autocast_hook is not None
            or not runs_own_forward(conv, relu, pooling)):
        return None
    weight, bias = conv.weight, conv.bias
    stride, pads, dilation = F.conv2d_arguments(input, weight, conv.stride, conv.padding,
                                                conv.dilation, conv.groups)
    kernel, pool_stride, padding = F._pool_args(pooling.kernel_size, pooling.stride,
                                                pooling.padding, "effective kernel")
    pool_options = (kernel, pool_stride, padding, pair(pooling.dilation, "dilation"),
                    pooling.ceil_mode)
    if not conv_pool.fuses(input._data, weight._data, pads, stride, dilation, pool_options):
        return None
    args = (input, weight) if bias is None else (input, weight, bias)
    return conv_pool.ConvReluPool.apply(*args, stride=stride, pads=pads, dilation=dilation,
                                        groups=conv.groups)
