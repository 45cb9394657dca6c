"""Embedding, layer/group normalisation and channel-wise dropout of engine.nn.functional."""

from __future__ import annotations

import warnings
from typing import Any

from engine import backend
from engine.ops import embedding as emb
from engine.ops import norm
from engine.ops.dropout import FeatureDropout
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written, maybe_inplace


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of weight picked by integer indices; the padding_idx row gets no gradient.

    max_norm: rows that are looked up and longer than max_norm are first rescaled in place.
    """
    if sparse:
        raise NotImplementedError("sparse gradients are not supported: use sparse=False")
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= rows
    indices = input._data if isinstance(input, Tensor) else Tensor(input)._data
    if indices.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following "
                           f"scalar types: Long, Int; but got {input.dtype} instead (while "
                           "checking arguments for embedding)")
    indices = backend.to_device(indices, weight._device)
    on_host = weight._device == "cpu"  # a GPU checks in the op (ops.embedding)
    if on_host and indices.size and (int(indices.min()) < 0 or int(indices.max()) >= rows):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        with backend.on_device(weight._device):  # renorm_rows_ writes outside an op
            if emb.renorm_rows_(weight._data, indices, max_norm, norm_type):
                mark_written(weight)
    return emb.Embedding.apply(weight, indices=indices, padding_idx=padding_idx,
                               scale_grad_by_freq=scale_grad_by_freq)


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing normalized_shape dims, then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(input.shape[input.ndim - len(shape):]) != shape or \
            len(shape) > input.ndim:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in shape)}], but got input of size"
                           f"{list(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but "
                               f"got {name} of shape {list(t.shape)} and normalized_shape = "
                               f"{list(shape)}")
    affine = tuple(t for t in (weight, bias) if t is not None)
    return norm.LayerNorm.apply(input._floating(), *affine, dims=len(shape), eps=eps,
                                has_weight=weight is not None, has_bias=bias is not None)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each group of num_groups channel groups per sample, then per-channel affine."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.ndim}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    size = [n * c // num_groups, num_groups] + list(input.shape[2:])
    values = size[0]
    for s in size[2:]:
        values *= s
    if values == 1:  # PyTorch's batch-size check, which looks at these numbers
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{size}")
    grouped = input._floating().reshape(n, num_groups, -1)
    normed = norm.LayerNorm.apply(grouped, dims=1, eps=eps, has_weight=False, has_bias=False)
    out = normed.reshape(input.shape)
    channel = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(channel)
    if bias is not None:
        out = out + bias.reshape(channel)
    return out


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _feature_dropout(x: Tensor, p: float, training: bool, inplace: bool,
                     unbatched: bool = False) -> Tensor:
    """One draw per (sample, channel) of an (N, C, *) input (of a (C, *) one when unbatched)."""
    if not training or p == 0.0:
        return x

    def drop(t: Tensor) -> Tensor:
        t = t.unsqueeze(0) if unbatched else t
        mask_shape = tuple(t.shape[:2]) + (1,) * (t.ndim - 2)
        out = FeatureDropout.apply(t, p=p, mask_shape=mask_shape)
        return out.squeeze(0) if unbatched else out

    return maybe_inplace(x, inplace, drop, saves_input=False)  # the backward needs only the mask


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, L) or (C, L) input with probability p."""
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs).")
    return _feature_dropout(input, p, training, inplace, unbatched=input.ndim == 2)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, H, W) input with probability p.

    A 3-D input is taken as (N, C, L), with PyTorch's warning (its historical behaviour).
    """
    _check_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, D, H, W) or (C, D, H, W) input with probability p."""
    _check_p(p)
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 4D or 5D inputs).", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, unbatched=input.ndim != 5)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,  # noqa: A002
              out: Any = None) -> Tensor:
    """input / max(||input||_p along dim, eps)."""
    if out is not None:
        raise NotImplementedError("normalize(out=...) is not supported")
    x = input._floating()
    # max(||x||, eps) as (max(sum |x|^p, eps^p))^(1/p): same value, and a zero vector gets a
    # zero gradient through its norm (as PyTorch), not 0 * inf from the root at 0.
    if p == 2.0:
        length = (x * x).sum(dim, keepdim=True).clamp(min=eps * eps).sqrt()
    else:
        length = (x.abs() ** p).sum(dim, keepdim=True).clamp(min=eps ** p) ** (1.0 / p)
    return x / length


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim (inputs broadcast)."""

    def length(x: Tensor) -> Tensor:
        # max(||x||, eps) as sqrt(max(|x|^2, eps^2)): finite gradient for a zero vector
        return (x * x).sum(dim, keepdim=True).clamp(min=eps * eps).sqrt()

    a, b = x1._floating(), x2._floating()
    return ((a / length(a)) * (b / length(b))).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,  # noqa: A002
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim."""
    diff = x1._floating() - x2._floating() + eps
    dim = max(x1.ndim, x2.ndim) - 1
    if p == 2.0:
        return (diff * diff).sum(dim, keepdim=keepdim).sqrt()
    return (diff.abs() ** p).sum(dim, keepdim=keepdim) ** (1.0 / p)
