"""2-D convolution via im2col: strided window views, one large matmul (one per image where
each output reads few columns), col2im by slice-adds."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backend import get_array_module, is_numpy
from engine.function import Function
from engine.ops import jit
from engine.ops.util import records_grad

Pads = tuple[int, int, int, int]  # top, bottom, left, right


def pad_nchw(x: Any, pads: Pads, value: float = 0.0) -> Any:
    """x padded on H and W (allocates once; returns x itself when there is nothing to pad)."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    xp = get_array_module(x)
    n, c, h, w = x.shape
    out = xp.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def windows(xpad: Any, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], out_hw: tuple[int, int]) -> Any:
    """A read-only (N, C, kh, kw, OH, OW) view of every kernel window (no copy)."""
    xp = get_array_module(xpad)
    sn, sc, sh, sw = xpad.strides
    shape = xpad.shape[:2] + tuple(kernel) + tuple(out_hw)
    strides = (sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1])
    if is_numpy(xp):  # read-only guards against writing through overlapping windows
        return xp.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(xpad, shape, strides)


def offset_view(a: Any, i: int, j: int, stride: tuple[int, int], dilation: tuple[int, int],
                out_hw: tuple[int, int]) -> Any:
    """The (N, C, OH, OW) strided view of the elements at kernel offset (i, j) of every window."""
    r0, c0 = i * dilation[0], j * dilation[1]
    return a[:, :, r0:r0 + stride[0] * (out_hw[0] - 1) + 1:stride[0],
             c0:c0 + stride[1] * (out_hw[1] - 1) + 1:stride[1]]


def add_windows(gpad: Any, gwin: Any, stride: tuple[int, int], dilation: tuple[int, int]) -> None:
    """col2im: add (A, kh, kw, B, OH, OW) window gradients into gpad (A, B, H, W), one slice-add
    per kernel offset (kh*kw vectorised adds, no per-pixel loop)."""
    kh, kw, _, oh, ow = gwin.shape[1:]
    for i in range(kh):
        for j in range(kw):
            offset_view(gpad, i, j, stride, dilation, (oh, ow))[...] += gwin[:, i, j]


def _col2im_flat(xp: Any, g_t: Any, wmat_t: Any, pad_shape: tuple[int, int, int, int],
                 kernel: tuple[int, int], dilation: tuple[int, int],
                 out_hw: tuple[int, int]) -> Any:
    """Input gradient of a stride-1 convolution on a (C, N, Hp, Wp) grid of padded inputs.

    The output gradient is laid on that grid (zeros beyond OH x OW), so each kernel offset's
    column gradient lands on the flattened grid at one fixed shift: kh*kw contiguous 1-D adds
    instead of kh*kw strided ones with OW-long inner loops (3-4x faster measured). Rows past
    OH x OW carry zeros, so what a shift moves into the next image, or past the last one, adds
    nothing. Neighbouring images and rows may share their padding (Hp = H + max(top, bottom),
    Wp = W + max(left, right), the caller's choice): padding cells collect sums nobody reads,
    and an input cell still reads only zeros outside its own image's outputs. That grid is 15%
    smaller than the fully padded one at 14x14, and so is its GEMM.
    """
    c, n, hp, wp = pad_shape
    (kh, kw), (dh, dw), (oh, ow) = kernel, dilation, out_hw
    groups, og = g_t.shape[:2]
    grid = xp.zeros((groups, og, n, hp, wp), dtype=g_t.dtype)
    grid[..., :oh, :ow] = g_t.reshape(groups, og, n, oh, ow)
    m = n * hp * wp
    gcols = xp.matmul(wmat_t, grid.reshape(groups, og, m)).reshape(c, kh, kw, m)
    flat = xp.empty((c, m + (kh - 1) * dh * wp + (kw - 1) * dw), dtype=g_t.dtype)
    flat[:, :m] = gcols[:, 0, 0]  # offset (0, 0) covers the whole grid: written, not added
    flat[:, m:] = 0
    for i in range(kh):
        for j in range(kw):
            if i or j:
                shift = i * dh * wp + j * dw
                flat[:, shift:shift + m] += gcols[:, i, j]
    return flat[:, :m].reshape(c, n, hp, wp)


_CHUNK = 1 << 18  # column-buffer elements per step of a no-grad forward (1 MB in float32: cache)
_PER_IMAGE_K = 32  # columns per output up to which per-image GEMMs win (K 9, 27: 1.1-1.3x)


def _columns_per_image(win: Any, ones: bool, buf: Any = None) -> Any:
    """The (N, K, L) columns of each image of a window view (N, C, kh, kw, OH, OW), with a last
    row of ones (K + 1 rows) when asked: a copy (windows overlap), into buf if given."""
    n, c, kh, kw, oh, ow = win.shape
    shape = (n, c * kh * kw + ones, oh * ow)
    cols = np.empty(shape, dtype=win.dtype) if buf is None else buf.reshape(shape)
    cols[:, :c * kh * kw].reshape(win.shape)[...] = win
    if ones:
        cols[:, -1] = 1
    return cols


def _per_image_gemm(wmat: Any, cols: Any, bias: Any, into: Any) -> Any:
    """into (N, O, OH, OW) = wmat (O, K) @ each image's columns (N, K, L), plus bias."""
    n, o, oh, ow = into.shape
    flat = into.reshape(n, o, oh * ow)  # not -1: an empty batch has no size to infer it from
    np.matmul(wmat, cols, out=flat)
    if bias is not None:
        flat += bias.reshape(o, 1)
    return into


def _columns(win: Any, groups: int, buf: Any = None, xpad: Any = None) -> Any:
    """The (G, Cg*kh*kw, N*OH*OW) im2col matrix of a window view: its one copy, into buf if given.
    One large GEMM per group beats a batched matmul of N small ones by about 2x on OpenBLAS.
    xpad, where given, is the padded input whose stride-1, dilation-1 windows win is: then the
    compiled copy makes the matrix where it takes xpad's type (2x faster, the same values)."""
    c, kh, kw = win.shape[1:4]
    n, oh, ow = win.shape[0], *win.shape[4:]
    moved = win.transpose(1, 2, 3, 0, 4, 5)
    kernels = jit.kernels() if xpad is not None and jit.plain_float(xpad) else None
    if buf is None and kernels is None:
        return moved.reshape(groups, c // groups * kh * kw, n * oh * ow)
    buf = np.empty(moved.shape, dtype=win.dtype) if buf is None else buf.reshape(moved.shape)
    if kernels is None:
        buf[...] = moved
    else:
        kernels.im2col_stride_1(xpad, buf)
    return buf.reshape(groups, c // groups * kh * kw, n * oh * ow)


def _to_nchw(out: Any, bias: Any, into: Any) -> Any:
    """(G, O/G, N*OH*OW) GEMM output plus bias, reordered into `into`, an (N, O, OH, OW) array."""
    o = out.shape[0] * out.shape[1]
    out = out.reshape(o, out.shape[2])
    if bias is not None:
        out += bias.reshape(o, 1)
    into[...] = out.reshape(o, into.shape[0], *into.shape[2:]).transpose(1, 0, 2, 3)
    return into


def _channel_major(out: Any, bias: Any, shape: tuple[int, int, int, int]) -> Any:
    """(G, O/G, N*OH*OW) GEMM output plus bias as an (N, O, OH, OW) view of its own (O, N, OH, OW)
    memory: no reorder pass, for an op that reads each (OH, OW) plane in any order."""
    n, o, oh, ow = shape
    out = out.reshape(o, n * oh * ow)
    if bias is not None:
        out += bias.reshape(o, 1)
    return out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)


def out_size(size: int, pad: int, kernel: int, stride: int, dilation: int) -> int:
    """Output length of a convolution or pooling along one axis (floor mode)."""
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


class Conv2d(Function):
    """x (N, C, H, W), weight (O, C/groups, kh, kw), optional bias (O,) -> (N, O, OH, OW)."""

    # Keeps its own column matrix rather than x, but x and weight versions are still checked
    # (not the bias's: its gradient needs only g, and PyTorch lets it change before backward).
    saved_input_count = 2
    # True in a subclass that takes the grad path's output in (O, N, OH, OW) memory behind an
    # (N, O, OH, OW) view (ops.conv_pool): the one large GEMM writes that order.
    channel_major_out = False

    def forward(self, x: Any, weight: Any, bias: Any = None, stride: tuple[int, int] = (1, 1),
                pads: Pads = (0, 0, 0, 0), dilation: tuple[int, int] = (1, 1),
                groups: int = 1) -> Any:
        xp = get_array_module(x)
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        oh = out_size(h, pads[0] + pads[1], kh, stride[0], dilation[0])
        ow = out_size(w, pads[2] + pads[3], kw, stride[1], dilation[1])
        if oh <= 0 or ow <= 0:
            raise RuntimeError(
                f"conv2d: kernel size ({kh}x{kw}) can't be greater than the padded input size "
                f"({h + pads[0] + pads[1]}x{w + pads[2] + pads[3]})"
            )
        xpad = pad_nchw(x, pads)
        win = windows(xpad, (kh, kw), stride, dilation, (oh, ow))
        # The compiled im2col takes stride 1, dilation 1 (NumPy arrays only: jit checks)
        unit = tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and is_numpy(xp)
        self.weight, self.x_shape = weight, x.shape
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        wmat = weight.reshape(groups, o // groups, cg * kh * kw)
        out = xp.empty((n, o, oh, ow), dtype=x.dtype)
        # Few columns per output (a first layer's K = 9): one GEMM per image writes NCHW itself,
        # where the single large GEMM runs at half speed and needs a reorder pass after it.
        self.per_image = groups == 1 and cg * kh * kw <= _PER_IMAGE_K and is_numpy(xp)
        if records_grad(self, 1):  # the weight gradient needs every column
            if self.per_image:
                self.cols = _columns_per_image(win, bias is not None)
                w2d = wmat[0]
                if bias is not None:  # a row of ones: the GEMM adds the bias, and backward's
                    w2d = np.concatenate([w2d, bias.reshape(o, 1)], axis=1)  # gives its gradient
                return _per_image_gemm(w2d, self.cols, None, out)
            self.cols = _columns(win, groups, xpad=xpad if unit else None)
            if self.channel_major_out:
                return _channel_major(xp.matmul(wmat, self.cols), bias, out.shape)
            return _to_nchw(xp.matmul(wmat, self.cols), bias, out)
        # Without it, columns for a few images at a time in one reused buffer: eval batches of
        # 1000 would otherwise make a 100+ MB column matrix and a second full pass over the
        # output to reorder it (measured 1.6x slower at batch 1000).
        step = n if not is_numpy(xp) else max(1, _CHUNK // (cg * kh * kw * oh * ow * groups))
        buf = xp.empty(win[:step].size, dtype=x.dtype)
        for i in range(0, n, step):
            part = win[i:i + step]
            if self.per_image:
                cols = _columns_per_image(part, False, buf[:part.size])
                _per_image_gemm(wmat[0], cols, bias, out[i:i + step])
            else:
                cols = _columns(part, groups, buf[:part.size],
                                xpad[i:i + step] if unit else None)
                _to_nchw(xp.matmul(wmat, cols), bias, out[i:i + step])
        return out

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        needs = self.needs_input_grad
        n, o, oh, ow = g.shape
        groups, weight = self.groups, self.weight
        og, cg, kh, kw = o // groups, *weight.shape[1:]
        gx = gw = gb = None
        k = cg * kh * kw
        needs_bias = len(needs) > 2 and needs[2]
        # A first layer: no (O, N*L) copy of g needed. The columns are kept only when the weight
        # needs its gradient, so a frozen weight's bias takes the GEMV below.
        if self.per_image and not needs[0] and needs[1]:
            gwb = xp.matmul(g.reshape(n, o, oh * ow), self.cols.transpose(0, 2, 1)).sum(0)
            gw = gwb[:, :k].reshape(weight.shape)
            gb = gwb[:, k] if needs_bias else None  # the ones row's
            return (gx, gw, gb)[: len(needs)]
        g_t = xp.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(groups, og, n * oh * ow)
        if needs[1]:
            cols = self.cols
            if self.per_image:  # (N, K, L) -> (1, K, N*L), the layout of the large GEMM
                cols = cols[:, :k].transpose(1, 0, 2).reshape(1, k, -1)
            gw = xp.matmul(g_t, cols.transpose(0, 2, 1)).reshape(weight.shape)
        if needs_bias:
            # A GEMV with ones: 3x faster than sum(axis=2) over (O, N*OH*OW), measured
            gb = (g_t.reshape(o, -1) @ xp.ones(g_t.shape[2], dtype=g_t.dtype)).reshape(o)
        if needs[0]:
            wmat_t = weight.reshape(groups, og, cg * kh * kw).transpose(0, 2, 1)
            top, bottom, left, right = self.pads
            _, c, h, w = self.x_shape
            if self.stride == (1, 1):
                # Shared padding; never narrower than the output (padding past the kernel's reach)
                grid = (c, n, max(h + max(top, bottom), oh), max(w + max(left, right), ow))
                gpad = _col2im_flat(xp, g_t, wmat_t, grid, (kh, kw), self.dilation, (oh, ow))
            else:
                gcols = xp.matmul(wmat_t, g_t)  # (G, K, N*L)
                gpad = xp.zeros((c, n, h + top + bottom, w + left + right), dtype=g.dtype)
                add_windows(gpad, gcols.reshape(c, kh, kw, n, oh, ow), self.stride, self.dilation)
            gx = gpad[:, :, top:top + h, left:left + w].transpose(1, 0, 2, 3)
        return (gx, gw, gb)[: len(needs)]
