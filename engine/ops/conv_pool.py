"""Conv2d, ReLU and 2x2 MaxPool2d as one node, for Sequential's Conv2d, ReLU, MaxPool2d runs on
the compiled CPU path: the values and gradients of the three ops, without the convolution's
output ever being an (N, C, H, W) tensor. The large-GEMM convolution writes (C, N, H, W) memory;
pooling reads its planes in that order and its backward writes the gradient in it, which is the
layout the convolution's backward multiplies: two reorder passes fewer a step (0.2-0.4 ms of a
SmallCNN step, measured)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.ops import jit, pool
from engine.ops.conv import Conv2d, out_size
from engine.ops.util import records_any_grad


def fuses(x: Any, weight: Any, pads: tuple[int, int, int, int], stride: tuple[int, int],
          dilation: tuple[int, int], pool: tuple[Any, Any, Any, Any, bool]) -> bool:
    """Whether ConvReluPool computes relu(conv2d(x, weight)) pooled by pool (its kernel, stride,
    padding, dilation and ceil_mode): 2x2 tiles of at least one tile, float NumPy arrays of one
    dtype, compiled kernels loaded."""
    kernel, pool_stride, padding, pool_dilation, ceil_mode = pool
    if (tuple(kernel) != (2, 2) or tuple(pool_stride) != (2, 2) or tuple(padding) != (0, 0)
            or tuple(pool_dilation) != (1, 1) or ceil_mode or type(x) is not np.ndarray
            or type(weight) is not np.ndarray or x.ndim != 4 or x.dtype != weight.dtype
            or x.dtype not in jit.FLOATS or jit.kernels() is None):
        return False
    kh, kw = weight.shape[2:]
    oh = out_size(x.shape[2], pads[0] + pads[1], kh, stride[0], dilation[0])
    ow = out_size(x.shape[3], pads[2] + pads[3], kw, stride[1], dilation[1])
    return oh >= 2 and ow >= 2


class ConvReluPool(Conv2d):
    """max_pool2d(relu(conv2d(x, weight, bias)), 2) for inputs fuses() accepts."""

    _torch_name = "MaxPool2DWithIndicesBackward0"  # the node PyTorch's graph ends in
    channel_major_out = True

    def forward(self, x: Any, weight: Any, bias: Any = None, stride: tuple[int, int] = (1, 1),
                pads: tuple[int, int, int, int] = (0, 0, 0, 0),
                dilation: tuple[int, int] = (1, 1), groups: int = 1) -> Any:
        y = super().forward(x, weight, bias, stride, pads, dilation, groups)
        # Pool the planes in memory order: (C, N, H, W) where the GEMM wrote that
        self.channel_major = not y.flags.c_contiguous
        planes = y.transpose(1, 0, 2, 3) if self.channel_major else y
        self.planes_shape = planes.shape
        # Where backward can run, it routes g to each tile's winner
        out, self.tile_winner = pool.pool_2x2(jit.kernels(), planes, True, records_any_grad(self))
        return np.ascontiguousarray(out.transpose(1, 0, 2, 3)) if self.channel_major else out

    def backward(self, g: Any) -> tuple:
        g_planes = g.transpose(1, 0, 2, 3) if self.channel_major else g
        gy = pool.pool_2x2_backward(g_planes, self.tile_winner, self.planes_shape)
        return super().backward(gy.transpose(1, 0, 2, 3) if self.channel_major else gy)
