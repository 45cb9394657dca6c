"""Export op conv2d: the engine's im2col with buffers reused between calls of the same shape.

One copy of the strided window view into a reused (C*kh*kw, N*OH*OW) column buffer, then one
(O, K) @ (K, M) matmul (on OpenBLAS about 3x faster than (M, K) @ (K, O) for the small K of a
first layer, measured); the output stays channel-major in memory (an NCHW view of a CNHW buffer),
and padding and pooling keep whatever layout they are given.
"""

from __future__ import annotations

from typing import Any

from engine.export.ops.linear import affine_weights
from engine.export.registry import INT, REQUIRED, OpDef, ints, options, register
from engine.export.shapes import Cost, Shape, known, need, positive, window
from engine.ops.conv import Conv2d, out_size, windows


def full_like_layout(xp: Any, x: Any, shape: tuple, fill: float) -> Any:
    """A new (N, C, H, W) array of `shape` whose memory order of axes is x's."""
    order = sorted(range(4), key=lambda d: -x.strides[d])  # outermost axis first
    buf = xp.full([shape[d] for d in order], fill, x.dtype)
    return buf.transpose([order.index(d) for d in range(4)])


def _shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x, w = s[0], s[1]
    need(len(x) == 4 and len(w) == 4, f"conv2d needs a 4-D input and weight, got {x} and {w}")
    known(x)
    positive(a, "stride", "dilation", "groups")
    pad, g = a["pads"], a["groups"]
    need(min(pad) >= 0, f"attribute 'pads' must be >= 0, got {pad}")
    need(w[0] % g == 0 and x[1] == w[1] * g,
         f"input {x} has {x[1]} channels; weight {w} with groups={g} expects {w[1] * g}")
    need(len(s) < 3 or s[2] == [w[0]], f"bias {s[-1]} does not match weight {w}")
    # pads are (top, bottom, left, right): fold them into the size
    padded = [x[2] + pad[0] + pad[1], x[3] + pad[2] + pad[3]]
    hw = [window(padded[i], w[2 + i], a["stride"][i], 0, a["dilation"][i], False)
          for i in range(2)]
    cols = x[1] * w[2] * w[3] * hw[0] * hw[1]  # the im2col buffer
    return [x[0], w[0]] + hw, Cost(scratch=max(cols, x[1] * padded[0] * padded[1]))


def _kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    """im2col convolution with buffers reused while the input shape and layout stay the same."""
    attrs = node["attrs"]
    weight, bias = affine_weights(xp, node, weights)
    relu = bool(node.get("relu"))
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
            xpad = full_like_layout(xp, x, (n, c, h + top + bottom, w + left + right), 0.0)
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
            xp.maximum(out, 0, out=out)
        return out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)

    return conv


def _onnx(b: Any, node: dict, shapes: dict) -> None:
    a, ins = node["attrs"], node["inputs"]
    t, bt, lf, rt = a["pads"]
    b.add("Conv", ins, node["outputs"], kernel_shape=list(b.inits[ins[1]].shape[2:]),
          strides=a["stride"], pads=[t, lf, bt, rt], dilations=a["dilation"], group=a["groups"])


def _record(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    kw = options(Conv2d, kw)
    attrs = {"stride": [int(v) for v in kw["stride"]], "pads": [int(v) for v in kw["pads"]],
             "dilation": [int(v) for v in kw["dilation"]], "groups": int(kw["groups"])}
    return tr.add_node("conv2d", list(inputs), out, attrs)


register(OpDef("conv2d", (2, 3), {"stride": (ints(2), REQUIRED), "pads": (ints(4), REQUIRED),
                                  "dilation": (ints(2), REQUIRED), "groups": (INT, REQUIRED)},
               _shape, _kernel, _onnx, traced_from=(Conv2d,), record=_record, weight_inputs=1,
               fresh=True, absorbs=True))
