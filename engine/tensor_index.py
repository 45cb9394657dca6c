"""Tensor's splitting, sorting, gather/scatter, scan and layout methods: one line or so per op."""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend
from engine.function import device_mismatch
from engine.ops import index as ix
from engine.ops import movement as mv
from engine.ops import scan
from engine.ops.util import normalize_axes
from engine.tensor_reduce import _ReturnType
from engine.tensor_shape import _shape_arg

if TYPE_CHECKING:
    from engine.tensor import Tensor


class SortResult(_ReturnType, namedtuple("SortResult", ["values", "indices"])):
    """(values, indices) of Tensor.sort."""

    __slots__ = ()
    _name = "sort"


class TopkResult(_ReturnType, namedtuple("TopkResult", ["values", "indices"])):
    """(values, indices) of Tensor.topk."""

    __slots__ = ()
    _name = "topk"


def _dim(dim: int, ndim: int) -> int:
    """One dim as a non-negative axis (0 for a 0-d tensor), with PyTorch's range error."""
    axes = normalize_axes(dim, ndim)
    return 0 if axes is None else axes[0]


def _index_array(self: Tensor, index: Any, name: str) -> Any:
    if not hasattr(index, "_data"):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._device != self._device:  # PyTorch wants the index where self is
        raise device_mismatch(self._device, index._device, name)
    return index._data


class IndexingOps:
    """Mixin with Tensor's split, sort, gather/scatter, cumulative and layout methods."""

    __slots__ = ()

    # ----- splitting (views through basic slicing) ----------------------------------------
    def _slice(self, dim: int, start: int, stop: int) -> Tensor:
        index = (slice(None),) * dim + (slice(start, stop),)
        return mv.GetItem.apply(self, index=index)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """The slice [start, start + length) of dim, as a view."""
        dim = _dim(dim, self.ndim)
        size = self.shape[dim]
        if not -size <= start <= size:
            raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], "
                             f"but got {start})")
        start = start % size if start < 0 else start
        if start + length > size:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                               f"({size}).")
        return self._slice(dim, start, start + length)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces of split_size along dim (the last may be smaller), or pieces of listed sizes."""
        dim = _dim(dim, self.ndim)
        size = self.shape[dim]
        if isinstance(split_size_or_sections, builtins.int):
            step = split_size_or_sections
            if step <= 0 and size:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {size}")
            bounds = [(s, min(s + step, size)) for s in range(0, size, step)] if size else [(0, 0)]
        else:
            sizes = [builtins.int(s) for s in split_size_or_sections]
            if builtins.sum(sizes) != size:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                                   f"(input tensor's size at dimension {dim}), but got "
                                   f"split_sizes={sizes}")
            starts = np.concatenate([[0], np.cumsum(sizes)]).astype(builtins.int).tolist()
            bounds = list(zip(starts[:-1], starts[1:], strict=True))
        return tuple(self._slice(dim, a, b) for a, b in bounds)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """Up to `chunks` pieces of equal size ceil(n / chunks) along dim (the last may be less)."""
        if chunks <= 0:
            raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
        size = self.shape[_dim(dim, self.ndim)]
        return self.split(max(1, -(-size // chunks)), dim)

    def tensor_split(self, sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """`sections` pieces whose sizes differ by at most one, or pieces cut at listed indices."""
        dim = _dim(dim, self.ndim)
        size = self.shape[dim]
        if isinstance(sections, builtins.int):
            base, extra = divmod(size, sections)
            sizes = [base + 1] * extra + [base] * (sections - extra)
            return self.split(sizes, dim)
        cuts = [0] + [builtins.min(builtins.int(c), size) for c in sections] + [size]
        pairs = zip(cuts[:-1], cuts[1:], strict=True)
        return tuple(self._slice(dim, a, builtins.max(a, b)) for a, b in pairs)

    def select(self, dim: int, index: int) -> Tensor:
        """The slice at index along dim, with that dim removed."""
        dim = _dim(dim, self.ndim)
        return mv.GetItem.apply(self, index=(slice(None),) * dim + (index,))

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """Every slice along dim, that dim removed."""
        dim = _dim(dim, self.ndim)
        return tuple(self.select(dim, i) for i in range(self.shape[dim]))

    # ----- sorting -----------------------------------------------------------------------
    def sort(self, dim: int = -1, descending: bool = False,
             stable: bool = False) -> SortResult:
        """(values, indices) sorted along dim; ties keep their order (always stable here)."""
        if self.ndim == 0:
            values, indices = self.reshape(1).sort(dim, descending)
            return SortResult(values.reshape(()), indices.reshape(()))
        axis = _dim(dim, self.ndim)
        order = ix.sort_indices(self._data, axis, descending)
        return SortResult(ix.Gather.apply(self, index=order, axis=axis),
                          self._wrap(order.astype(np.int64, copy=False)))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """Indices that sort along dim."""
        return self.sort(dim, descending).indices

    def msort(self) -> Tensor:
        """Values sorted along dim 0."""
        return self.sort(0).values

    def topk(self, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> TopkResult:  # noqa: A002 - PyTorch's name
        """The k largest (or smallest) values along dim and their indices."""
        axis = _dim(dim, self.ndim)
        size = self.shape[axis] if self.ndim else 1
        if not 0 <= k <= size:
            raise RuntimeError("selected index k out of range")
        values, indices = self.sort(dim, descending=largest)
        if self.ndim == 0:
            return TopkResult(values, indices)
        return TopkResult(values.narrow(axis, 0, k), indices.narrow(axis, 0, k))

    # ----- gather / scatter --------------------------------------------------------------
    def gather(self, dim: int, index: Tensor) -> Tensor:
        """out[i][j] = self[index[i][j]][j] along dim 0 (likewise for other dims)."""
        idx = _index_array(self, index, "gather")
        axis = _dim(dim, self.ndim)
        ix.check_index("gather", self.shape, idx, axis)
        return ix.Gather.apply(self, index=idx, axis=axis)

    def take_along_dim(self, indices: Tensor, dim: int) -> Tensor:
        """Values at indices along dim (NumPy's take_along_axis)."""
        return self.gather(dim, indices)

    def scatter(self, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Tensor:
        """A copy with self[index[i][j]][j] = src[i][j] along dim 0 (src a tensor or number)."""
        idx = _index_array(self, index, "scatter")
        axis = _dim(dim, self.ndim)
        if src is None:
            src = value
        if hasattr(src, "_data"):
            if src._data.dtype != self._data.dtype:
                raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
            ix.check_index("scatter", self.shape, idx, axis, tuple(src.shape))
            return ix.Scatter.apply(self, src, index=idx, axis=axis, reduce=reduce)
        ix.check_index("scatter", self.shape, idx, axis)
        return ix.Scatter.apply(self, index=idx, axis=axis, value=src, reduce=reduce)

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        """A copy with src[i][j] added at self[index[i][j]][j] (dim 0); repeats add up."""
        return self.scatter(dim, index, src, reduce="add")

    def scatter_reduce(self, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                       include_self: bool = True) -> Tensor:
        """A copy with src combined at index along dim by 'sum', 'prod', 'mean', 'amax' or 'amin'
        (self's own values join in unless include_self=False)."""
        if reduce not in ("sum", "prod", "mean", "amax", "amin"):
            raise RuntimeError("reduce argument must be either sum, prod, mean, amax or amin, got "
                               f"{reduce}")
        idx = _index_array(self, index, "scatter_reduce")
        axis = _dim(dim, self.ndim)
        if src._data.dtype != self._data.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        ix.check_index("scatter_reduce", self.shape, idx, axis, tuple(src.shape))
        return ix.ScatterReduce.apply(self, src, index=idx, axis=axis, reduce=reduce,
                                      include_self=include_self)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        """The entries of dim at the positions in a 1-D index tensor."""
        idx = _index_array(self, index, "index_select")
        if idx.ndim > 1:
            raise IndexError("index_select(): Index is supposed to be a vector")
        if idx.dtype.kind not in "iu":
            raise IndexError("index_select(): Expected dtype int32/int64 for index")
        axis = _dim(dim, self.ndim)
        return mv.GetItem.apply(self, index=(slice(None),) * axis + (idx.reshape(-1),))

    def masked_select(self, mask: Tensor) -> Tensor:
        """The 1-D tensor of elements where mask (broadcast with self) is True."""
        if mask._data.dtype != np.bool_:
            raise RuntimeError("masked_select: expected BoolTensor for mask")
        shape = np.broadcast_shapes(self.shape, mask.shape)
        source = self if self.shape == shape else self.expand(shape)
        cond = backend.to_device(mask._data, self._device)  # a host mask is copied over
        if mask.shape != shape:
            cond = backend.array_module(self._device).broadcast_to(cond, shape)
        return mv.GetItem.apply(source, index=cond)

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        """Indices of non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor per dim."""
        xp = backend.array_module(self._device)
        found = xp.nonzero(self._data.reshape(1) if self.ndim == 0 else self._data)
        if as_tuple:
            return tuple(self._wrap(i.astype(np.int64, copy=False)) for i in found)
        stacked = xp.stack(found, axis=1) if self.ndim else xp.zeros((len(found[0]), 0))
        return self._wrap(stacked.astype(np.int64, copy=False))

    def argwhere(self) -> Tensor:
        """nonzero() as an (n, ndim) tensor."""
        return self.nonzero()

    def count_nonzero(self, dim: Any = None) -> Tensor:
        """Number of non-zero elements over dim (int64)."""
        axes = normalize_axes(dim, self.ndim)
        return self._wrap((self._data != 0).sum(axis=axes).astype(np.int64))

    # ----- reordering and copies ---------------------------------------------------------
    def flip(self, *dims: Any) -> Tensor:
        """Reverse the order along dims."""
        axes = tuple(_dim(d, self.ndim) for d in _shape_arg(dims)) if self.ndim else ()
        return mv.Flip.apply(self, axes=axes)

    def fliplr(self) -> Tensor:
        """Reverse dim 1."""
        return self.flip(1)

    def flipud(self) -> Tensor:
        """Reverse dim 0."""
        return self.flip(0)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        """Shift elements cyclically along dims (over the flattened tensor when dims is None)."""
        if dims is None:
            return mv.Roll.apply(self.flatten(), shifts=shifts, axes=None).view(self.shape)
        shifts = tuple(shifts) if isinstance(shifts, tuple | list) else shifts
        axes = (tuple(_dim(d, self.ndim) for d in dims) if isinstance(dims, tuple | list)
                else _dim(dims, self.ndim))
        return mv.Roll.apply(self, shifts=shifts, axes=axes)

    def repeat(self, *sizes: Any) -> Tensor:
        """Tile the tensor sizes[i] times along dim i (extra leading sizes add dims)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than "
                               "number of dimensions of tensor")
        return mv.Repeat.apply(self, repeats=sizes)

    def tril(self, diagonal: int = 0) -> Tensor:
        """Lower triangle of the last two dims (others zeroed)."""
        return self._triangle("tril", diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        """Upper triangle of the last two dims (others zeroed)."""
        return self._triangle("triu", diagonal)

    def _triangle(self, name: str, diagonal: int) -> Tensor:
        if self.ndim < 2:  # NumPy would build a matrix from a vector
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
        return mv.Triangle.apply(self, upper=name == "triu", diagonal=diagonal)

    # ----- scans -------------------------------------------------------------------------
    def _scan_source(self, dtype: Any) -> Tensor:
        src = self if dtype is None else self.to(dtype)
        if src._data.dtype.kind in "biu" and src._data.dtype != np.int64 and dtype is None:
            src = src._cast(np.int64)  # PyTorch scans integers and bools in int64
        return src

    def cumsum(self, dim: int, dtype: Any = None) -> Tensor:
        """Running sum along dim (integers and bools accumulate in int64)."""
        src = self._scan_source(dtype)
        if self.ndim == 0:
            return src * 1
        return scan.CumSum.apply(src, axis=_dim(dim, self.ndim))

    def cumprod(self, dim: int, dtype: Any = None) -> Tensor:
        """Running product along dim (integers and bools accumulate in int64)."""
        src = self._scan_source(dtype)
        if self.ndim == 0:
            return src * 1
        return scan.CumProd.apply(src, axis=_dim(dim, self.ndim))
