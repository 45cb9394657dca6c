"""Function forms that take PyTorch's out= (engine.add(a, b, out=t), engine.mm, ...), norm,
einsum and meshgrid."""

from __future__ import annotations

import warnings
from typing import Any

from engine.creation import cat, tensor
from engine.grad_mode import _GradState
from engine.memory_format import check_memory_format, preserve_format
from engine.ops.matmul import Einsum
from engine.tensor import Tensor
from engine.tensor_inplace import _can_cast, mark_written
from engine.tensor_math import torch_type_name, vector_norm

# C++ type names, as PyTorch's exact-dtype out= check spells them
_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
              "int32": "int", "int16": "short int", "int8": "signed char",
              "uint8": "unsigned char", "bool": "bool"}


def write_out(name: str, result: Tensor, out: Tensor | None, inputs: tuple = (),
              exact_dtype: bool = False) -> Tensor:
    """result, or result written into out (resized when its shape differs) and out returned."""
    if out is None:
        return result
    if _GradState.enabled and (out.requires_grad or any(
            getattr(t, "requires_grad", False) for t in inputs)):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    if exact_dtype and result._data.dtype != out._data.dtype:
        raise RuntimeError(f"Expected out tensor to have dtype {_CPP_NAMES[result.dtype.name]}, "
                           f"but got {_CPP_NAMES[out.dtype.name]} instead")
    if not _can_cast(result._data.dtype, out._data.dtype):
        raise RuntimeError(f"result type {torch_type_name(result)} can't be cast to the desired "
                           f"output type {torch_type_name(out)}")
    if out.shape != result.shape:
        if out.numel():
            warnings.warn(
                f"An output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape "
                f"{list(result.shape)}. This behavior is deprecated, and in a future release "
                "outputs will not be resized unless they have zero elements.", UserWarning,
                stacklevel=3)
        out._data = result._data.astype(out._data.dtype, copy=True)
    else:
        out._data[...] = result._data
    mark_written(out)
    return out


def add(input: Any, other: Any, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input + alpha * other."""
    return write_out("add", _as_tensor(input, other).add(other, alpha=alpha), out,
                     (input, other))


def sub(input: Any, other: Any, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input - alpha * other."""
    return write_out("sub", _as_tensor(input, other).sub(other, alpha=alpha), out,
                     (input, other))


def mul(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Elementwise product."""
    return write_out("mul", _as_tensor(input, other).mul(other), out, (input, other))


def div(input: Any, other: Any, *, rounding_mode: str | None = None,  # noqa: A002
        out: Tensor | None = None) -> Tensor:
    """input / other; rounding_mode 'trunc' or 'floor' rounds the quotient."""
    result = _as_tensor(input, other).div(other, rounding_mode=rounding_mode)
    return write_out("div", result, out, (input, other))


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Matrix product (1-D, 2-D, batched)."""
    return write_out("matmul", input.matmul(other), out, (input, other), exact_dtype=True)


def mm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Product of two matrices."""
    return write_out("mm", input.mm(mat2), out, (input, mat2), exact_dtype=True)


def bmm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Batched matrix product (b, n, m) @ (b, m, p)."""
    return write_out("bmm", input.bmm(mat2), out, (input, mat2), exact_dtype=True)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1,  # noqa: A002
          alpha: float = 1, out: Tensor | None = None) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    result = input.addmm(mat1, mat2, beta=beta, alpha=alpha)
    return write_out("addmm", result, out, (input, mat1, mat2), exact_dtype=True)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,  # noqa: A002
         out: Tensor | None = None, dtype: Any = None) -> Tensor:
    """Vector p-norm over dim (all elements when None)."""
    return write_out("norm", input.norm(p, dim, keepdim, dtype=dtype), out, (input,))


def clone(input: Tensor, *, memory_format: Any = preserve_format) -> Tensor:  # noqa: A002
    """A copy that stays in the graph."""
    check_memory_format(memory_format, "clone")
    return input.clone()


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, e.g. einsum('bij,bjk->bik', a, b); operands may also come as a list."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    first = operands[0]
    target = first._data.dtype
    for t in operands[1:]:
        if t._data.dtype != target:
            raise RuntimeError(f"expected scalar type {torch_type_name(first)} but found "
                               f"{torch_type_name(t)}")
    return Einsum.apply(*operands, equation=equation)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors: 'ij' (matrix) or 'xy' (Cartesian) indexing."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                         f"received: {indexing}")
    shape = tuple(t.numel() for t in tensors)
    grids = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[i] = -1
        grids.append(t.reshape(view).expand(shape))
    if indexing == "xy" and len(tensors) >= 2:  # Cartesian: the first two dims swap roles
        grids = [g.transpose(0, 1) for g in grids]
    return tuple(grids)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """p-norm distance between each row of x1 (..., P, M) and of x2 (..., R, M): (..., P, R)."""
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


def var_mean(input: Tensor, dim: Any = None, *, correction: float = 1,  # noqa: A002
             keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """(var, mean) over dim."""
    return input.var(dim, keepdim=keepdim, correction=correction), input.mean(dim, keepdim)


def std_mean(input: Tensor, dim: Any = None, *, correction: float = 1,  # noqa: A002
             keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """(std, mean) over dim."""
    return input.std(dim, keepdim=keepdim, correction=correction), input.mean(dim, keepdim)


def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least one dim."""
    return _atleast(tensors, 1)


def atleast_2d(*tensors: Any) -> Any:
    """Each tensor with at least two dims (1-D becomes a row)."""
    return _atleast(tensors, 2)


def atleast_3d(*tensors: Any) -> Any:
    """Each tensor with at least three dims."""
    return _atleast(tensors, 3)


def _atleast(tensors: tuple, ndim: int) -> Any:
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        tensors = tuple(tensors[0])
    out = []
    for t in tensors:
        shape = tuple(t.shape)
        if len(shape) < ndim:  # PyTorch's placement: a vector is a row, then a (1, n, 1) slab
            shape = {0: (1,) * ndim, 1: ((1,) + shape + (1,))[:ndim], 2: shape + (1,)}[len(shape)]
        out.append(t.reshape(shape) if shape != tuple(t.shape) else t)
    return out[0] if len(out) == 1 else tuple(out)


def hstack(tensors: Any) -> Tensor:
    """Join along dim 1 (dim 0 for 1-D tensors)."""
    ts = atleast_1d(*tensors)
    ts = ts if isinstance(ts, tuple) else (ts,)
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Any) -> Tensor:
    """Join along dim 0, 1-D tensors as rows."""
    ts = atleast_2d(*tensors)
    return cat(ts if isinstance(ts, tuple) else (ts,), 0)


row_stack = vstack


def dstack(tensors: Any) -> Tensor:
    """Join along dim 2 (depth)."""
    ts = atleast_3d(*tensors)
    return cat(ts if isinstance(ts, tuple) else (ts,), 2)


def column_stack(tensors: Any) -> Tensor:
    """Join along dim 1, 0-D and 1-D tensors as columns."""
    columns = [t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors]
    return cat(columns, 1)


def _as_tensor(input: Any, other: Any) -> Tensor:  # noqa: A002
    """input as a tensor (engine.add(2, t) works as in PyTorch), on other's device."""
    if isinstance(input, Tensor):
        return input
    device = other._device if isinstance(other, Tensor) else "cpu"
    return tensor(input, device=device)


__all__ = ["add", "sub", "mul", "div", "matmul", "mm", "bmm", "addmm", "norm", "clone",
           "einsum", "meshgrid", "vector_norm", "write_out", "cdist", "var_mean", "std_mean",
           "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack", "row_stack", "dstack",
           "column_stack"]
