"""2-D max, average and adaptive average pooling on strided window views, and the window
geometry (output size, padding that covers every window, average divisor, adaptive bins) that the
export runner shares."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backend import get_array_module, is_numpy
from engine.function import Function
from engine.ops import jit
from engine.ops.conv import Pads, offset_view, pad_nchw
from engine.ops.util import records_grad

Pair = tuple[int, int]


def pool_out_size(size: int, pad: int, kernel: int, stride: int, dilation: int,
                  ceil_mode: bool) -> int:
    """PyTorch's pooling output length; in ceil mode the last window must start inside the input."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_out_hw(shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair,
                dilation: Pair, ceil_mode: bool) -> tuple[int, int]:
    """(OH, OW) of pooling an (N, C, H, W) input; PyTorch's error where either is below 1."""
    oh, ow = (pool_out_size(s, p, k, st, d, ceil_mode) for s, p, k, st, d in
              zip(shape[2:], padding, kernel, stride, dilation, strict=True))
    if oh < 1 or ow < 1:
        c, h, w = shape[1:]
        raise RuntimeError(f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                           f"({c}x{oh}x{ow}). Output size is too small")
    return oh, ow


def pool_pads(hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
              out_hw: Pair) -> Pads:
    """Top/bottom/left/right padding that covers every window (ceil mode may need extra)."""
    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
             for o, s, d, k, n, p in zip(out_hw, stride, dilation, kernel, hw, padding,
                                         strict=True)]
    return (padding[0], padding[0] + extra[0], padding[1], padding[1] + extra[1])


def window_counts(xp: Any, hw: Pair, kernel: Pair, stride: Pair, padding: Pair, out_hw: Pair,
                  count_include_pad: bool, dtype: Any) -> Any:
    """PyTorch's average-pool divisor per output cell, as an (OH, OW) array: the window clipped
    to the padded input (never the ceil-mode overhang), or to the input itself."""
    counts = []
    for size, pad, k, s, o in zip(hw, padding, kernel, stride, out_hw, strict=True):
        start = xp.arange(o) * s - pad
        end = xp.minimum(start + k, size + pad)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, size)
        counts.append(end - start)
    return (counts[0][:, None] * counts[1][None, :]).astype(dtype)


def adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive bins of one axis: floor(i*size/out) .. ceil((i+1)*size/out)."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def adaptive_matrix(xp: Any, out: int, size: int, dtype: Any) -> Any:
    """The (out, size) matrix that averages each adaptive bin of an axis."""
    m = xp.zeros((out, size), dtype=dtype)
    for i, (start, end) in enumerate(adaptive_bins(size, out)):
        m[i, start:end] = 1.0 / (end - start)
    return m


def _tiles(x_shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
           out_hw: Pair) -> bool:
    """Windows that tile the input without overlap or padding (a bottom/right remainder that no
    window reaches is allowed): pooled one axis at a time."""
    return (kernel == stride and padding == (0, 0) and dilation == (1, 1)
            and all(o * k <= n for o, k, n in zip(out_hw, kernel, x_shape[2:], strict=True)))


def _running_max(xp: Any, views: list[Any], keep: bool) -> tuple[Any, Any]:
    """Elementwise max of equally shaped views and, when keep, the index of the first maximum
    (bool for two views, uint8 up to 256, int32 beyond); (the view itself, None) for one view."""
    if len(views) == 1:
        return views[0], None
    first, second = views[0], views[1]
    index = second > first if keep else None  # strict: on ties the earlier view wins
    out = xp.maximum(first, second)
    if keep and len(views) > 2:
        index = index.astype(xp.uint8 if len(views) <= 256 else xp.int32)
    for k, view in enumerate(views[2:], 2):
        if keep:
            xp.copyto(index, k, where=view > out)
        xp.maximum(out, view, out=out)
    return out, index


_CHUNK = 1 << 18  # input elements per step of a no-grad tiled max (1 MB in float32: cache)


def _max_into(xp: Any, views: list[Any], out: Any) -> None:
    """out = the elementwise max of equally shaped views (a copy of the one view)."""
    if len(views) == 1:
        xp.copyto(out, views[0])
        return
    xp.maximum(views[0], views[1], out=out)
    for view in views[2:]:
        xp.maximum(out, view, out=out)


def _tiled_max(xp: Any, x: Any, kernel: Pair, out_hw: Pair) -> Any:
    """Max over tiling windows with no index: rows first, whose inner loops run over contiguous
    columns, a few images at a time so the row maxima stay in cache (1.5x faster than one running
    max over the kernel offsets at batch 1000, measured). Not for the kept-index path: taking rows
    first would break ties column-first, not in PyTorch's row-major order."""
    (kh, kw), (oh, ow) = kernel, out_hw
    n, c = x.shape[:2]
    crop = x[:, :, :oh * kh, :ow * kw]
    out = xp.empty((n, c, oh, ow), dtype=x.dtype)
    step = max(1, _CHUNK // max(1, crop[0].size)) if is_numpy(xp) else n  # GPU: one pass
    buf = xp.empty((min(step, n), c, oh, ow * kw), dtype=x.dtype)
    for i in range(0, n, step):
        part = crop[i:i + step]
        rows = buf[:part.shape[0]]
        _max_into(xp, [part[:, :, r::kh] for r in range(kh)], rows)
        _max_into(xp, [rows[..., j::kw] for j in range(kw)], out[i:i + step])
    return out


def fuses_relu(x: Any, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
               ceil_mode: bool) -> bool:
    """Whether MaxPool2d can take relu=True for x: 2x2 tiles on the compiled path, where
    max(relu(x)) is relu(max(x)) in one pass and the backward needs no ReLU mask."""
    if x.ndim != 4:
        return False
    out_hw = pool_out_hw(x.shape, kernel, stride, padding, dilation, ceil_mode)
    tiles = _tiles(x.shape, kernel, stride, padding, dilation, out_hw)
    return _compiled_2x2(x, kernel, tiles) is not None


def _compiled_2x2(x: Any, kernel: Pair, tiles: bool) -> Any:
    """The compiled kernels where they pool x (2x2 tiles of a NumPy float array), else None."""
    return jit.kernels() if tiles and kernel == (2, 2) and jit.plain_float(x) else None


def pool_2x2(fast: Any, x: Any, relu: bool, keep: bool) -> tuple[Any, Any]:
    """(max of each whole 2x2 tile of x, (N, C, H, W) planes in memory order, with relu: of
    relu(x); the uint8 winner per tile where keep, else None), in one compiled pass."""
    out = np.empty(x.shape[:2] + (x.shape[2] // 2, x.shape[3] // 2), dtype=x.dtype)
    if not keep:
        fast.max_pool_2x2_values(x, relu, out)
        return out, None
    winner = np.empty(out.shape, dtype=np.uint8)
    fast.max_pool_2x2(x, relu, out, winner)
    return out, winner


def pool_2x2_backward(g: Any, winner: Any, x_shape: tuple[int, ...]) -> Any:
    """The input gradient of pool_2x2: g routed to each tile's winner, zeros elsewhere."""
    if not jit.plain_float(g):  # what the kernel is compiled for
        g = np.array(g, dtype=g.dtype if g.dtype in jit.FLOATS else np.float64, order="C")
    (oh, ow), (h, w) = winner.shape[2:], x_shape[2:]
    gx = (np.empty if (2 * oh, 2 * ow) == (h, w) else np.zeros)(x_shape, g.dtype)
    jit.kernels().max_pool_2x2_backward(g, winner, gx)
    return gx


def _is_index(index: Any, k: int) -> Any:
    """Where index (bool for two positions, else an integer array) equals k."""
    if index.dtype == bool:
        return index if k else ~index
    return index == k


class MaxPool2d(Function):
    """Max over each window; the gradient goes to the first maximum, as in PyTorch.

    Tiling windows (kernel == stride, no padding or dilation; 2x2 pooling) are pooled one axis at
    a time: a running max over the kw columns of each window, then over its kh rows, keeping the
    winning column per row and the winning row per window (~4x faster than one pass per kernel
    offset, measured). Backward routes g to the winning row, then to the winning column. With no
    gradient to come, tiling windows are pooled rows first in cache-sized chunks (_tiled_max).
    Other windows take one running max over strided views of the padded input, one per kernel
    offset; with grad, the winning offset per window is kept.
    """

    saves_inputs = False

    def forward(self, x: Any, kernel: Pair, stride: Pair, padding: Pair = (0, 0),
                dilation: Pair = (1, 1), ceil_mode: bool = False, relu: bool = False) -> Any:
        xp = get_array_module(x)
        h, w = x.shape[2:]
        oh, ow = pool_out_hw(x.shape, kernel, stride, padding, dilation, ceil_mode)
        self.x_shape, self.out_hw, self.kernel = x.shape, (oh, ow), kernel
        self.stride, self.dilation = stride, dilation
        keep = records_grad(self)
        kh, kw = kernel
        tiles = _tiles(x.shape, kernel, stride, padding, dilation, (oh, ow))
        self.tiled, self.index, self.tile_winner = keep and tiles, None, None
        fast = _compiled_2x2(x, kernel, tiles)
        if fast is not None:
            return self._pool_2x2(fast, x, relu, keep)
        if relu:
            raise RuntimeError("MaxPool2d(relu=True) runs only where fuses_relu() holds")
        if tiles and not keep:
            return _tiled_max(xp, x, kernel, (oh, ow))
        if self.tiled:
            crop = x[:, :, :oh * kh, :ow * kw]
            rows, self.col_index = _running_max(xp, [crop[..., j::kw] for j in range(kw)], keep)
            out, self.row_index = _running_max(xp, [rows[:, :, i::kh] for i in range(kh)], keep)
            return out.copy() if kh == kw == 1 else out  # a 1x1 kernel gave a view of x
        self.pads = pool_pads((h, w), kernel, stride, padding, dilation, (oh, ow))
        xpad = pad_nchw(x, self.pads, value=-xp.inf)
        views = [offset_view(xpad, k // kw, k % kw, stride, dilation, (oh, ow))
                 for k in range(kh * kw)]
        out, index = _running_max(xp, views, keep)
        self.index = index
        return out if len(views) > 1 else out.copy()

    def _pool_2x2(self, fast: Any, x: Any, relu: bool, keep: bool) -> Any:
        """2x2 tiles in one compiled pass (with relu: relu then pool, fused; only where
        fuses_relu said yes). Keeps a uint8 winner per tile for backward."""
        out, self.tile_winner = pool_2x2(fast, x, relu, keep)
        return out

    def backward(self, g: Any) -> Any:
        if self.tile_winner is not None:
            return pool_2x2_backward(g, self.tile_winner, self.x_shape)
        if self.tiled:
            return self._tiled_backward(g)
        xp = get_array_module(g)
        n, c, h, w = self.x_shape
        kh, kw = self.kernel
        top, bottom, left, right = self.pads
        gpad = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=g.dtype)
        overlap = self.stride[0] < kh * self.dilation[0] or self.stride[1] < kw * self.dilation[1]
        for k in range(kh * kw):
            view = offset_view(gpad, k // kw, k % kw, self.stride, self.dilation, self.out_hw)
            share = g if self.index is None else g * _is_index(self.index, k)
            if overlap:
                view += share
            else:  # disjoint windows: each input cell is written once
                view[...] = share
        return gpad[:, :, top:top + h, left:left + w]

    def _tiled_backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        n, c, h, w = self.x_shape
        (oh, ow), (kh, kw) = self.out_hw, self.kernel
        covered = oh * kh == h and ow * kw == w
        gx = (xp.empty if covered else xp.zeros)(self.x_shape, dtype=g.dtype)
        rows = g
        if self.row_index is not None:  # g to the winning row of each window
            rows = xp.empty((n, c, oh * kh, ow), dtype=g.dtype)
            for i in range(kh):
                xp.multiply(g, _is_index(self.row_index, i), out=rows[:, :, i::kh])
        crop = gx[:, :, :oh * kh, :ow * kw]
        if self.col_index is None:
            crop[...] = rows
        else:  # then to the winning column of that row
            for j in range(kw):
                xp.multiply(rows, _is_index(self.col_index, j), out=crop[..., j::kw])
        return gx


class AvgPool2d(Function):
    """Mean over each window; padded zeros count unless count_include_pad is False."""

    saves_inputs = False

    def forward(self, x: Any, kernel: Pair, stride: Pair, padding: Pair = (0, 0),
                ceil_mode: bool = False, count_include_pad: bool = True,
                divisor_override: int | None = None) -> Any:
        xp = get_array_module(x)
        n, c, h, w = x.shape
        oh, ow = pool_out_hw(x.shape, kernel, stride, padding, (1, 1), ceil_mode)
        kh, kw = kernel
        self.x_shape, self.kernel, self.stride, self.out_hw = x.shape, kernel, stride, (oh, ow)
        self.pads = pool_pads((h, w), kernel, stride, padding, (1, 1), (oh, ow))
        xpad = pad_nchw(x, self.pads)
        sums = offset_view(xpad, 0, 0, stride, (1, 1), (oh, ow)).copy()
        for k in range(1, kh * kw):
            sums += offset_view(xpad, k // kw, k % kw, stride, (1, 1), (oh, ow))
        if divisor_override:
            divisor: Any = float(divisor_override)
        else:
            divisor = window_counts(xp, (h, w), kernel, stride, padding, (oh, ow),
                                    count_include_pad, x.dtype)
        self.divisor = divisor
        return (sums / divisor).astype(x.dtype, copy=False)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        n, c, h, w = self.x_shape
        (oh, ow), (kh, kw) = self.out_hw, self.kernel
        top, bottom, left, right = self.pads
        share = (g / self.divisor).astype(g.dtype, copy=False)
        gpad = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=g.dtype)
        for k in range(kh * kw):
            offset_view(gpad, k // kw, k % kw, self.stride, (1, 1), (oh, ow))[...] += share
        return gpad[:, :, top:top + h, left:left + w]


class AdaptiveAvgPool2d(Function):
    """Mean over each adaptive bin: a global mean for a 1x1 output, a reshape when the bins tile
    the input, else two averaging matrices (rows @ x @ cols.T), which cost no Python loop."""

    saves_inputs = False

    def forward(self, x: Any, output_size: Pair) -> Any:
        xp = get_array_module(x)
        n, c, h, w = x.shape
        oh, ow = output_size
        self.x_shape, self.out_hw = x.shape, (oh, ow)
        if (oh, ow) == (1, 1):
            self.kind = "global"
            return x.mean(axis=(2, 3), keepdims=True)
        if h % oh == 0 and w % ow == 0:
            self.kind = "tiles"
            return x.reshape(n, c, oh, h // oh, ow, w // ow).mean(axis=(3, 5))
        self.kind = "bins"
        self.rows = adaptive_matrix(xp, oh, h, x.dtype)
        self.cols = adaptive_matrix(xp, ow, w, x.dtype)
        return self.rows @ (x @ self.cols.T)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        n, c, h, w = self.x_shape
        (oh, ow), kind = self.out_hw, self.kind
        if kind == "bins":
            return self.rows.T @ (g @ self.cols)
        gx = xp.empty((n, c, oh, h // oh, ow, w // ow), dtype=g.dtype)
        gx[...] = (g / g.dtype.type((h // oh) * (w // ow)))[:, :, :, None, :, None]
        return gx.reshape(self.x_shape)

    def name(self) -> str:
        """PyTorch's node name: a 1x1 output is a mean there too."""
        return "MeanBackward1" if self.kind == "global" else "AdaptiveAvgPool2DBackward0"
