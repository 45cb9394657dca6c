"""Inference kernels of the script runner on raw NumPy/CuPy arrays, float32 throughout.

Each ``build_<op>`` takes a node's attributes and its weights (already on the target array module)
and returns a closure over precomputed weight layouts and reused buffers. Convolution is im2col:
one copy of the strided window view into a reused column buffer, then one matmul; its output stays
channels-last in memory (an NCHW view of an NHWC buffer) so the next convolution copies contiguous
channel runs, and pooling works on the same views slice by slice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Kernel = Callable[..., Any]
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _strided(xp: Any, x: Any, shape: tuple, strides: tuple) -> Any:
    return xp.lib.stride_tricks.as_strided(x, shape, strides)


def _relu_(xp: Any, a: Any) -> Any:
    return xp.maximum(a, 0, out=a)


def build_linear(xp: Any, attrs: dict, weight: Any, bias: Any, relu: bool) -> Kernel:
    """y = x @ W.T + b (then relu in place when fused)."""
    wt = xp.ascontiguousarray(weight.T)
    n_in, n_out = wt.shape

    def linear(x: Any) -> Any:
        x2 = x if x.ndim == 2 else x.reshape(-1, n_in)
        out = xp.matmul(x2, wt)
        if bias is not None:
            out += bias
        if relu:
            _relu_(xp, out)
        return out if x.ndim == 2 else out.reshape(x.shape[:-1] + (n_out,))

    return linear


def build_conv2d(xp: Any, attrs: dict, weight: Any, bias: Any, relu: bool) -> Kernel:
    """im2col convolution with buffers reused while the input shape and layout stay the same."""
    o, cg, kh, kw = weight.shape
    groups = attrs["groups"]
    (s0, s1), (d0, d1) = attrs["stride"], attrs["dilation"]
    top, bottom, left, right = attrs["pads"]
    og, k = o // groups, cg * kh * kw
    # (K, O) for columns ordered (C, kh, kw); (kh, kw, C) order when the input is channels-last
    w_chw = xp.ascontiguousarray(weight.reshape(groups, og, k).transpose(0, 2, 1))
    w_hwc = xp.ascontiguousarray(weight.transpose(0, 2, 3, 1).reshape(o, k).T)
    cache: dict = {}

    def setup(x: Any) -> tuple:
        n, c, h, w = x.shape
        oh = (h + top + bottom - d0 * (kh - 1) - 1) // s0 + 1
        ow = (w + left + right - d1 * (kw - 1) - 1) // s1 + 1
        last = groups == 1 and x.strides[1] < x.strides[3]  # channels-last memory
        xpad = None
        if top or bottom or left or right:
            hp, wp = h + top + bottom, w + left + right
            xpad = (xp.zeros((n, hp, wp, c), x.dtype).transpose(0, 3, 1, 2) if last
                    else xp.zeros((n, c, hp, wp), x.dtype))
        src = x if xpad is None else xpad
        sn, sc, sh, sw = src.strides
        if last:
            shape = (n, oh, ow, kh, kw, c)
            strides = (sn, sh * s0, sw * s1, sh * d0, sw * d1, sc)
        else:
            shape = (n, oh, ow, c, kh, kw)
            strides = (sn, sh * s0, sw * s1, sc, sh * d0, sw * d1)
        cols = xp.empty(shape, x.dtype)
        out = xp.empty((n * oh * ow, o), x.dtype)
        return xpad, shape, strides, cols, out, last, (n, oh, ow)

    def conv(x: Any) -> Any:
        key = (x.shape, x.strides)
        state = cache.get(key)
        if state is None:
            cache.clear()  # keep one set of buffers: batch sizes rarely alternate
            state = cache[key] = setup(x)
        xpad, shape, strides, cols, out, last, (n, oh, ow) = state
        if xpad is not None:
            xpad[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
            src = xpad
        else:
            src = x
        xp.copyto(cols, _strided(xp, src, shape, strides))
        if groups == 1:
            xp.matmul(cols.reshape(n * oh * ow, -1), w_hwc if last else w_chw[0], out=out)
        else:
            g_cols = cols.reshape(n * oh * ow, groups, k).transpose(1, 0, 2)
            out.reshape(n * oh * ow, groups, og)[...] = xp.matmul(g_cols, w_chw).transpose(1, 0, 2)
        if bias is not None:
            out += bias
        if relu:
            _relu_(xp, out)
        return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)

    return conv


def _pool_geometry(attrs: dict, h: int, w: int) -> tuple:
    (k0, k1), (s0, s1), (p0, p1) = attrs["kernel_size"], attrs["stride"], attrs["padding"]
    d0, d1 = attrs.get("dilation", [1, 1])
    ceil = attrs.get("ceil_mode", False)

    def size(n: int, k: int, s: int, p: int, d: int) -> int:
        span = n + 2 * p - d * (k - 1) - 1
        m = (-(-span // s) if ceil else span // s) + 1
        return m - 1 if ceil and (m - 1) * s >= n + p else m

    oh, ow = size(h, k0, s0, p0, d0), size(w, k1, s1, p1, d1)
    # padded extent that every window fits in (ceil mode can reach past the right padding)
    hp = max(h + 2 * p0, (oh - 1) * s0 + d0 * (k0 - 1) + 1)
    wp = max(w + 2 * p1, (ow - 1) * s1 + d1 * (k1 - 1) + 1)
    return (k0, k1), (s0, s1), (p0, p1), (d0, d1), (oh, ow), (hp, wp)


def _padded(xp: Any, x: Any, pads: tuple, size: tuple, fill: float) -> Any:
    (p0, p1), (hp, wp) = pads, size
    n, c, h, w = x.shape
    if (hp, wp) == (h, w):
        return x
    last = x.strides[1] < x.strides[3]
    buf = (xp.full((n, hp, wp, c), fill, x.dtype).transpose(0, 3, 1, 2) if last
           else xp.full((n, c, hp, wp), fill, x.dtype))
    buf[:, :, p0:p0 + h, p1:p1 + w] = x
    return buf


def _taps(x: Any, geo: tuple) -> Any:
    (k0, k1), (s0, s1), _, (d0, d1), (oh, ow), _ = geo
    for i in range(k0):
        for j in range(k1):
            rows = slice(i * d0, i * d0 + s0 * (oh - 1) + 1, s0)
            yield x[:, :, rows, j * d1:j * d1 + s1 * (ow - 1) + 1:s1]


def build_max_pool2d(xp: Any, attrs: dict) -> Kernel:
    """Max over kernel taps: one elementwise maximum per tap over strided slices."""

    def max_pool(x: Any) -> Any:
        geo = _pool_geometry(attrs, x.shape[2], x.shape[3])
        taps = _taps(_padded(xp, x, geo[2], geo[5], -math.inf), geo)
        first = next(taps)
        out = xp.empty_like(first)  # keeps the input's memory layout
        xp.copyto(out, first)
        for tap in taps:
            xp.maximum(out, tap, out=out)
        return out

    return max_pool


def _avg_divisor(xp: Any, attrs: dict, h: int, w: int, geo: tuple) -> Any:
    """PyTorch's divisor per output cell: window clipped to the padded input."""
    (k0, k1), (s0, s1), (p0, p1), _, (oh, ow), _ = geo
    include = attrs.get("count_include_pad", True)

    def counts(n: int, m: int, k: int, s: int, p: int) -> list[int]:
        out = []
        for i in range(m):
            start, end = i * s - p, min(i * s - p + k, n + p)
            size = end - start
            start, end = max(start, 0), min(end, n)
            out.append(size if include else end - start)
        return out

    rows, cols = counts(h, oh, k0, s0, p0), counts(w, ow, k1, s1, p1)
    return xp.asarray([[r * c for c in cols] for r in rows], dtype=xp.float32)


def build_avg_pool2d(xp: Any, attrs: dict) -> Kernel:
    """Sum over kernel taps of the zero-padded input, divided as PyTorch does."""
    cache: dict = {}

    def avg_pool(x: Any) -> Any:
        geo = _pool_geometry(attrs, x.shape[2], x.shape[3])
        if x.shape[2:] not in cache:
            cache[x.shape[2:]] = 1.0 / _avg_divisor(xp, attrs, x.shape[2], x.shape[3], geo)
        taps = _taps(_padded(xp, x, geo[2], geo[5], 0.0), geo)
        first = next(taps)
        out = xp.empty_like(first)
        xp.copyto(out, first)
        for tap in taps:
            xp.add(out, tap, out=out)
        out *= cache[x.shape[2:]]
        return out

    return avg_pool


def build_adaptive_avg_pool2d(xp: Any, attrs: dict) -> Kernel:
    """PyTorch's adaptive bins: floor(i*H/oh) .. ceil((i+1)*H/oh)."""
    oh, ow = attrs["output_size"]

    def adaptive(x: Any) -> Any:
        n, c, h, w = x.shape
        if (oh, ow) == (1, 1):
            return x.mean(axis=(2, 3), keepdims=True)
        out = xp.empty((n, c, oh, ow), x.dtype)
        for i in range(oh):
            r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            for j in range(ow):
                c0, c1 = (j * w) // ow, -(-((j + 1) * w) // ow)
                out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
        return out

    return adaptive


def erfc(xp: Any, x: Any) -> Any:
    """Complementary error function to 1.2e-7 relative error (Numerical Recipes' erfcc)."""
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -0.82215223 + t * 0.17087277
    for c in (1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196,
              1.00002368, -1.26551223):
        poly = c + t * poly
    ans = t * xp.exp(-z * z + poly)
    return xp.where(x >= 0, ans, 2.0 - ans).astype(x.dtype, copy=False)


def gelu(xp: Any, x: Any, approximate: str) -> Any:
    """GELU, exact (erf) or PyTorch's tanh approximation."""
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return (0.5 * x * (1.0 + xp.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * erfc(xp, -x * _INV_SQRT2)).astype(x.dtype, copy=False)


def softmax(xp: Any, x: Any, dim: int, log: bool) -> Any:
    """Stable (log-)softmax along dim."""
    shifted = x - x.max(axis=dim, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=dim, keepdims=True)
    return shifted - xp.log(total) if log else e / total


def sigmoid(xp: Any, x: Any, inplace: bool) -> Any:
    """Logistic sigmoid in its tanh form (no overflow for large negative x)."""
    out = x if inplace else xp.empty_like(x)
    xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out
