"""Inference kernels of the script runner on raw NumPy/CuPy arrays, float32 throughout.

Each ``build_<op>`` takes a node's attributes and its weights (already on the target array module)
and returns a closure over precomputed weight layouts and reused buffers. Convolution is the
engine's im2col: one copy of the strided window view into a reused (C*kh*kw, N*OH*OW) column
buffer, then one (O, K) @ (K, M) matmul (on OpenBLAS about 3x faster than (M, K) @ (K, O) for the
small K of a first layer, measured); its output stays channel-major in memory (an NCHW view of a
CNHW buffer), and padding and pooling keep whatever layout they are given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.ops.conv import offset_view, out_size, windows
from engine.ops.pool import pool_out_size

Kernel = Callable[..., Any]
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _full_like_layout(xp: Any, x: Any, shape: tuple, fill: float) -> Any:
    """A new (N, C, H, W) array of `shape` whose memory order of axes is x's."""
    order = sorted(range(4), key=lambda d: -x.strides[d])  # outermost axis first
    buf = xp.full([shape[d] for d in order], fill, x.dtype)
    return buf.transpose([order.index(d) for d in range(4)])


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
    stride, dilation = tuple(attrs["stride"]), tuple(attrs["dilation"])
    top, bottom, left, right = attrs["pads"]
    k = cg * kh * kw
    w_groups = xp.ascontiguousarray(weight.reshape(groups, o // groups, k))
    b_col = None if bias is None else bias.reshape(o, 1)
    cache: dict = {}

    def setup(x: Any) -> tuple:
        n, c, h, w = x.shape
        oh = out_size(h, top + bottom, kh, stride[0], dilation[0])
        ow = out_size(w, left + right, kw, stride[1], dilation[1])
        xpad = None
        if top or bottom or left or right:
            xpad = _full_like_layout(xp, x, (n, c, h + top + bottom, w + left + right), 0.0)
        cols = xp.empty((c, kh, kw, n, oh, ow), x.dtype)
        out = xp.empty((o, n * oh * ow), x.dtype)
        return xpad, cols, out, (n, oh, ow)

    def conv(x: Any) -> Any:
        key = (x.shape, x.strides)
        state = cache.get(key)
        if state is None:
            cache.clear()  # keep one set of buffers: batch sizes rarely alternate
            state = cache[key] = setup(x)
        xpad, cols, out, (n, oh, ow) = state
        if xpad is not None:
            xpad[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
            x = xpad
        win = windows(x, (kh, kw), stride, dilation, (oh, ow))  # (N, C, kh, kw, OH, OW)
        xp.copyto(cols, win.transpose(1, 2, 3, 0, 4, 5))
        xp.matmul(w_groups, cols.reshape(groups, k, -1), out=out.reshape(groups, o // groups, -1))
        if b_col is not None:
            out += b_col
        if relu:
            _relu_(xp, out)
        return out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)

    return conv


def _pool_geometry(attrs: dict, h: int, w: int) -> tuple:
    (k0, k1), (s0, s1), (p0, p1) = attrs["kernel_size"], attrs["stride"], attrs["padding"]
    d0, d1 = attrs.get("dilation", [1, 1])
    ceil = attrs.get("ceil_mode", False)
    oh, ow = pool_out_size(h, p0, k0, s0, d0, ceil), pool_out_size(w, p1, k1, s1, d1, ceil)
    # padded extent that every window fits in (ceil mode can reach past the right padding)
    hp = max(h + 2 * p0, (oh - 1) * s0 + d0 * (k0 - 1) + 1)
    wp = max(w + 2 * p1, (ow - 1) * s1 + d1 * (k1 - 1) + 1)
    return (k0, k1), (s0, s1), (p0, p1), (d0, d1), (oh, ow), (hp, wp)


def _padded(xp: Any, x: Any, pads: tuple, size: tuple, fill: float) -> Any:
    (p0, p1), (hp, wp) = pads, size
    n, c, h, w = x.shape
    if (hp, wp) == (h, w):
        return x
    buf = _full_like_layout(xp, x, (n, c, hp, wp), fill)
    buf[:, :, p0:p0 + h, p1:p1 + w] = x
    return buf


def _taps(x: Any, geo: tuple) -> Any:
    (k0, k1), stride, _, dilation, out_hw, _ = geo
    for i in range(k0):
        for j in range(k1):
            yield offset_view(x, i, j, stride, dilation, out_hw)


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
