"""Helpers shared by the ops: backward broadcasting and reductions, 2-D option pairs, and whether
an op records what its backward needs."""

from __future__ import annotations

from typing import Any

from engine.grad_mode import _GradState


def pair(value: Any, name: str = "argument") -> tuple[int, int]:
    """An int, or a sequence of one or two ints, as PyTorch's (h, w) pair of a 2-D op's option."""
    if isinstance(value, int):
        return (value, value)
    both = tuple(int(v) for v in value)
    if len(both) == 1:
        return (both[0], both[0])
    if len(both) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value}")
    return both  # type: ignore[return-value]


def records_grad(ctx: Any, index: int = 0) -> bool:
    """Whether backward can run for input `index` of this op: grad mode on and the input needs
    it. Ops skip what only backward reads (masks, indices) otherwise; a bare forward call (the
    export runner's) has no needs_input_grad and records nothing."""
    return _GradState.enabled and getattr(ctx, "needs_input_grad", (False,) * (index + 1))[index]


def records_any_grad(ctx: Any) -> bool:
    """Whether backward can run for any input of this op (what records_grad asks per input)."""
    return _GradState.enabled and True in getattr(ctx, "needs_input_grad", ())


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum grad over the axes that broadcasting added or stretched, back to an input's shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    # Sums give fresh arrays, which backward can store in .grad without another copy.
    return grad if grad.shape == shape else grad.reshape(shape)


def normalize_axes(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """dim as int, tuple or None -> a sorted tuple of non-negative axes (None: all axes)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims:
        return None  # PyTorch reduces over every dim for dim=()
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, "
                f"{max(ndim, 1) - 1}], but got {d})"
            )
        out.append(d % ndim if ndim else 0)
    if ndim == 0:
        return None  # dim 0 / -1 of a 0-d tensor: the whole (single-element) tensor
    return tuple(sorted(set(out)))


def expand_reduced(grad: Any, in_shape: tuple[int, ...], axes: tuple[int, ...] | None,
                   keepdim: bool) -> Any:
    """Reshape a reduced gradient so it broadcasts against the input shape."""
    if axes is None:
        return grad.reshape((1,) * len(in_shape))
    if keepdim:
        return grad
    shape = list(in_shape)
    for a in axes:
        shape[a] = 1
    return grad.reshape(shape)
