"""engine.nn.functional: stateless layers and activations (PyTorch's torch.nn.functional)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import backend
from engine.amp.autocast_mode import autocasts
from engine.creation import pad
from engine.nn._functional_activation import (
    celu,
    elu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    silu,
    softmin,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from engine.nn._functional_layers import (
    cosine_similarity,
    dropout1d,
    dropout2d,
    dropout3d,
    embedding,
    group_norm,
    layer_norm,
    normalize,
    pairwise_distance,
)
from engine.nn._functional_loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from engine.ops import activation as act
from engine.ops import conv, norm, pool
from engine.ops import linear as lin
from engine.ops.dropout import Dropout
from engine.ops.elementwise import Relu
from engine.ops.softmax import LogSoftmax, Softmax, implicit_dim
from engine.ops.util import pair as _pair
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written, maybe_inplace

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy_with_logits",
           "conv2d", "cross_entropy", "dropout", "flatten", "gelu", "l1_loss", "leaky_relu",
           "linear", "log_softmax", "max_pool2d", "mse_loss", "nll_loss", "one_hot", "pad",
           "relu", "sigmoid", "softmax", "tanh"]
__all__ += ["binary_cross_entropy", "cosine_embedding_loss", "huber_loss", "kl_div",
            "margin_ranking_loss", "smooth_l1_loss"]
__all__ += ["celu", "elu", "glu", "hardsigmoid", "hardswish", "hardtanh", "logsigmoid", "mish",
            "prelu", "relu6", "selu", "silu", "softmin", "softplus", "softsign", "tanhshrink",
            "threshold"]
__all__ += ["dropout1d", "dropout2d", "dropout3d", "embedding", "group_norm", "layer_norm",
            "normalize"]
__all__ += ["cosine_similarity", "hardshrink", "pairwise_distance", "softshrink"]


# ----- activations -----------------------------------------------------------------------------
def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """Softmax along dim, computed stably."""
    x = input if dtype is None else input.to(dtype)
    return Softmax.apply(x._floating(), axis=_dim(x, dim))


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """log(softmax(x)) along dim, fused for stability."""
    x = input if dtype is None else input.to(dtype)
    return LogSoftmax.apply(x._floating(), axis=_dim(x, dim))


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(x, 0)."""
    return maybe_inplace(input, inplace, Relu.apply, saves_input=False)  # Relu keeps a mask


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return maybe_inplace(input, inplace,
                         lambda x: act.LeakyRelu.apply(x, negative_slope=negative_slope))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """x * Phi(x); approximate='tanh' uses the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got '{approximate}'")
    return act.Gelu.apply(input._floating(), approximate=approximate)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + exp(-x))."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Hyperbolic tangent."""
    return input.tanh()


def _dim(x: Tensor, dim: int | None) -> int:
    return implicit_dim(x.ndim) if dim is None else dim


# ----- linear and convolution ------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """x @ weight.T + bias as one fused op."""
    check_linear(input, weight)
    args = (input, weight) if bias is None else (input, weight, bias)
    return lin.Linear.apply(*args)


def check_linear(input: Tensor, weight: Tensor) -> None:  # noqa: A002
    """PyTorch's errors for an input that linear(input, weight) cannot multiply."""
    if input._data.shape[-1] != weight._data.shape[-1]:  # raw shapes: this runs every step
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_mat(input.shape)} and "
            f"{weight.shape[1]}x{weight.shape[0]})"
        )
    # Inside a region autocast casts float16/float32 input and weight to one dtype
    if input._data.dtype != weight._data.dtype and not autocasts(input, weight):
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got "
                           f"{input.dtype.name} and {weight.dtype.name}")


def _mat(shape: tuple[int, ...]) -> str:
    rows = 1
    for s in shape[:-1]:
        rows *= s
    return f"{rows}x{shape[-1]}"


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) via im2col; padding may be 'same' or 'valid'."""
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    if x.ndim != 4:
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got "
                           f"input of size: {list(input.shape)}")
    stride, pads, dilation = conv2d_arguments(x, weight, stride, padding, dilation, groups)
    args = (x, weight) if bias is None else (x, weight, bias)
    out = conv.Conv2d.apply(*args, stride=stride, pads=pads, dilation=dilation, groups=groups)
    return out.squeeze(0) if unbatched else out


def conv2d_arguments(x: Tensor, weight: Tensor, stride: Any, padding: Any, dilation: Any,
                     groups: int) -> tuple[tuple[int, int], conv.Pads, tuple[int, int]]:
    """(stride, pads, dilation) for ops.conv.Conv2d on a 4-D x, after PyTorch's checks."""
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{x.shape[1]} channels instead"
        )
    if x._data.dtype != weight._data.dtype and not autocasts(x, weight):
        raise RuntimeError(f"Input type ({x.dtype.name}) and weight type ({weight.dtype.name}) "
                           "should be the same: cast one with .to(dtype)")
    return stride, conv_pads(padding, weight.shape[2:], stride, dilation), dilation


def conv_pads(padding: Any, kernel: tuple[int, ...], stride: tuple[int, int],
              dilation: tuple[int, int]) -> conv.Pads:
    """(top, bottom, left, right) from an int, a pair, 'valid' or 'same' (PyTorch's split)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"Invalid padding string '{padding}', should be one of "
                             "{'valid', 'same'}")
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        total = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        return (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)
    ph, pw = _pair(padding, "padding")
    return (ph, ph, pw, pw)


# ----- pooling ---------------------------------------------------------------------------------
def _pool_input(input: Tensor, name: str) -> tuple[Tensor, bool]:  # noqa: A002
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{name}: expected 3D or 4D input, got {input.ndim}D input of size "
                           f"{list(input.shape)}")
    return (input.unsqueeze(0), True) if input.ndim == 3 else (input, False)


def _pool_args(kernel_size: Any, stride: Any, padding: Any, what: str) -> tuple:
    """(kernel, stride, padding) pairs; stride defaults to the kernel, as in PyTorch."""
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise RuntimeError(f"pad should be at most half of {what} size, but got "
                           f"pad={padding}, kernel_size={kernel}")
    return kernel, stride, padding


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Max over kernel windows (stride defaults to kernel_size)."""
    if return_indices:
        raise NotImplementedError("max_pool2d(return_indices=True) is not supported")
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, "effective kernel")
    x, unbatched = _pool_input(input, "max_pool2d")
    out = pool.MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding,
                               dilation=_pair(dilation, "dilation"), ceil_mode=ceil_mode)
    return out.squeeze(0) if unbatched else out


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over kernel windows."""
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, "kernel")
    x, unbatched = _pool_input(input._floating(), "avg_pool2d")
    out = pool.AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding,
                               ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                               divisor_override=divisor_override)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Average pooling to a fixed output size, with PyTorch's window bounds."""
    x, unbatched = _pool_input(input._floating(), "adaptive_avg_pool2d")
    h, w = x.shape[2:]
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    oh, ow = (s if s is not None else full for s, full in zip(sizes, (h, w), strict=True))
    out = pool.AdaptiveAvgPool2d.apply(x, output_size=(oh, ow))
    return out.squeeze(0) if unbatched else out


# ----- normalisation and dropout ---------------------------------------------------------------
@backend.runs_on_device
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise per channel (axis 1) with batch statistics (training) or running ones."""
    if training or running_mean is None:
        size = input.numel() // input.shape[1]
        if size <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {list(input.shape)}")
        axes = norm.stat_axes(input.ndim)
        mean = input._data.mean(axis=axes)
        var = input._data.var(axis=axes)
        if training and running_mean is not None:
            # Running statistics update in place, outside the graph; var is stored unbiased.
            running_mean._data *= 1 - momentum
            running_mean._data += momentum * mean.astype(running_mean._data.dtype)
            mark_written(running_mean)
        if training and running_var is not None:
            unbiased = var * (size / (size - 1))
            running_var._data *= 1 - momentum
            running_var._data += momentum * unbiased.astype(running_var._data.dtype)
            mark_written(running_var)
        is_batch = True
    else:
        mean, var, is_batch = running_mean._data, running_var._data, False
    if (weight is None) != (bias is None):
        # One of them missing: stand in the neutral value so the op keeps a single signature.
        c, dev = input.shape[1], input._device
        weight = weight if weight is not None else Tensor._from_array(
            backend.full(dev, c, 1, input._data.dtype), dev)
        bias = bias if bias is not None else Tensor._from_array(
            backend.full(dev, c, 0, input._data.dtype), dev)
    affine = () if weight is None else (weight, bias)
    return norm.BatchNorm.apply(input, *affine, mean=mean, var=var, eps=eps, training=is_batch)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False) -> Tensor:
    """Zero elements with probability p and scale the rest by 1/(1-p) (identity unless training)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    return maybe_inplace(input, inplace, lambda x: Dropout.apply(x, p=p),
                         saves_input=False)  # the backward needs only the mask


# ----- shape helpers ---------------------------------------------------------------------------
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    """Merge dims start_dim..end_dim."""
    return input.flatten(start_dim, end_dim)


@backend.runs_on_device
def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding along a new last dim (on a GPU with num_classes given, values are
    not range-checked: that would read them back; num_classes=-1 reads the maximum, as PyTorch)."""
    xp = backend.array_module(tensor._device)
    idx = tensor._data
    if idx.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    checked = type(idx) is np.ndarray and idx.size
    if checked and int(idx.min()) < 0:
        raise RuntimeError("Class values must be non-negative.")
    n = int(idx.max()) + 1 if num_classes == -1 else num_classes
    if checked and int(idx.max()) >= n:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = (idx[..., None] == xp.arange(n)).astype(xp.int64)
    return Tensor._from_array(out, tensor._device)
