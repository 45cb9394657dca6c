"""Compiled CPU loops (numba) for the steps NumPy can only run as several full-array passes.

Imported only through engine.ops.jit, on first use: importing numba costs ~0.3 s, which the
CLI's --help and CuPy-only work must not pay. Each kernel is one pass over C-contiguous arrays,
single-threaded (the CLI gives BLAS the cores it wants), and computes what the NumPy path beside
it computes: the same float operations in the same order, so results are bitwise equal. The
compiled code is cached on disk (cache=True): a process after the first loads it in well under
a second (numba's own import included) instead of compiling for ~5 s.

Every kernel is compiled when this module is imported, for exactly the argument types in its
signatures (float32 and float64, C-contiguous and writeable, int64 class targets): nothing
compiles in the middle of a step, and callers check those types and take the NumPy path for
anything else. engine.ops.jit holds Ctrl-C back during that import: numba's compiler calls back
into Python, and a KeyboardInterrupt raised there is printed and dropped, not raised.
"""

from __future__ import annotations

import numba
import numpy as np

# error_model="numpy": a float division by zero gives inf/NaN, as in NumPy, instead of the
# per-element check that Python's model adds (measured 10x slower: it blocks vectorising).
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
NO_WINNER = 4  # index of a 2x2 window whose ReLU'd maximum is 0: no gradient flows back
_FLOATS = (numba.float32, numba.float64)


def _compiled(*signature: object):
    """numba.njit for exactly these argument types, once per float type. An entry is a numba
    type, "float" (the float type), or (element type or "float", ndim): a C-contiguous,
    writeable array."""
    def types_for(dtype: object) -> list:
        out = []
        for entry in signature:
            if isinstance(entry, tuple):  # (element type or "float", ndim)
                element = dtype if entry[0] == "float" else entry[0]
                out.append(numba.types.Array(element, entry[1], "C"))
            else:
                out.append(dtype if entry == "float" else entry)
        return out

    return numba.njit([tuple(types_for(dtype)) for dtype in _FLOATS], **_JIT)


@_compiled(*[("float", 1)] * 4, *["float"] * 6)
def adam_step(param, grad, exp_avg, exp_avg_sq, beta1, one_minus_beta1, beta2,
              one_minus_beta2, eps_scaled, step_scale):  # pragma: no cover - compiled
    """One Adam update of 1-D arrays in place, engine.optim.adam._adam_math's formula:
    m = b1 m + (1 - b1) g; v = b2 v + ((1 - b2) g) g; p += m / (sqrt(v) + eps') * scale."""
    for i in range(param.shape[0]):
        g = grad[i]
        m = exp_avg[i] * beta1 + g * one_minus_beta1
        v = exp_avg_sq[i] * beta2 + (g * one_minus_beta2) * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] += (m / (np.sqrt(v) + eps_scaled)) * step_scale


def max_pool_2x2(x, relu, out, index):
    """out = max of each 2x2 tile of x (N, C, H, W), and index = its first maximum (0..3, in
    row-major order; a NaN wins, the last one if several, as in PyTorch). With relu, out is
    relu(max) = max(relu) and a window whose max is <= 0 gets index NO_WINNER."""
    if _max_pool_2x2_no_nan(x, relu, out, index):
        _max_pool_2x2_nan(x, relu, out, index)  # a NaN in x: redo it all the careful way


@_compiled(("float", 4), numba.boolean, ("float", 4), (numba.uint8, 4))
def _max_pool_2x2_no_nan(x, relu, out, index):  # pragma: no cover - compiled
    """max_pool_2x2 for an x without NaN, with no branch on the data: random comparisons
    mispredict half the time, which made a branching loop 10x slower, measured. The maximum is
    a chain of selects in the branching loop's order (ties keep the first) and the index is the
    first element equal to it. Returns whether x held a NaN, where the results are wrong."""
    n, c, oh, ow = out.shape
    saw_nan = False
    for p in range(n):
        for q in range(c):
            plane, out_plane, index_plane = x[p, q], out[p, q], index[p, q]
            for i in range(oh):
                top, bottom = plane[2 * i], plane[2 * i + 1]
                out_row, index_row = out_plane[i], index_plane[i]
                for j in range(ow):
                    a, b = top[2 * j], top[2 * j + 1]
                    c_, d = bottom[2 * j], bottom[2 * j + 1]
                    best = a
                    best = b if b > best else best
                    best = c_ if c_ > best else best
                    best = d if d > best else best
                    saw_nan |= (a != a) | (b != b) | (c_ != c_) | (d != d)
                    # 0 if a is the maximum, else 1 if b is, else 2 if c is, else 3
                    k = np.uint8(a != best) * (np.uint8(1) + np.uint8(b != best)
                                               * (np.uint8(1) + np.uint8(c_ != best)))
                    none = relu & (best <= 0)  # stores of a literal 0: best stays in x's dtype
                    out_row[j] = 0 if none else best
                    index_row[j] = np.uint8(NO_WINNER) if none else k
    return saw_nan


@_compiled(("float", 4), numba.boolean, ("float", 4), (numba.uint8, 4))
def _max_pool_2x2_nan(x, relu, out, index):  # pragma: no cover - compiled
    """max_pool_2x2 as a branching loop that lets NaN win, for inputs holding one."""
    n, c, oh, ow = out.shape
    for a in range(n):
        for b in range(c):
            plane, out_plane, index_plane = x[a, b], out[a, b], index[a, b]
            for i in range(oh):
                top, bottom = plane[2 * i], plane[2 * i + 1]
                out_row, index_row = out_plane[i], index_plane[i]
                for j in range(ow):
                    best, k = top[2 * j], 0
                    v = top[2 * j + 1]
                    if v > best or v != v:
                        best, k = v, 1
                    v = bottom[2 * j]
                    if v > best or v != v:
                        best, k = v, 2
                    v = bottom[2 * j + 1]
                    if v > best or v != v:
                        best, k = v, 3
                    if relu and best <= 0:  # stores of a literal 0: best stays in x's dtype
                        out_row[j] = 0
                        index_row[j] = NO_WINNER
                    else:
                        out_row[j] = best
                        index_row[j] = k


@_compiled(("float", 4), numba.boolean, ("float", 4))
def max_pool_2x2_values(x, relu, out):  # pragma: no cover - compiled
    """max_pool_2x2 without the index, for no-grad forwards (eval)."""
    n, c, oh, ow = out.shape
    for a in range(n):
        for b in range(c):
            plane, out_plane = x[a, b], out[a, b]
            for i in range(oh):
                top, bottom, out_row = plane[2 * i], plane[2 * i + 1], out_plane[i]
                for j in range(ow):
                    best = top[2 * j]  # selects, not branches (see _max_pool_2x2_no_nan)
                    v = top[2 * j + 1]
                    best = v if (v > best) | (v != v) else best
                    v = bottom[2 * j]
                    best = v if (v > best) | (v != v) else best
                    v = bottom[2 * j + 1]
                    best = v if (v > best) | (v != v) else best
                    out_row[j] = 0 if relu & (best <= 0) else best


@_compiled(("float", 4), (numba.uint8, 4), ("float", 4))
def max_pool_2x2_backward(g, index, gx):  # pragma: no cover - compiled
    """gx (N, C, H, W) = g routed to each tile's winner, zero elsewhere. Rows and columns past
    the last whole tile are left alone (the caller zeroes them)."""
    n, c, oh, ow = g.shape
    for a in range(n):
        for b in range(c):
            g_plane, index_plane, gx_plane = g[a, b], index[a, b], gx[a, b]
            for i in range(oh):
                g_row, index_row = g_plane[i], index_plane[i]
                top, bottom = gx_plane[2 * i], gx_plane[2 * i + 1]
                # Zero both rows, then one store per tile at its winner: a literal 0, not
                # dtype.type(0), which made the loop 3x slower; four selects per tile were 4x
                # slower than this, measured.
                for j in range(2 * ow):
                    top[j] = 0
                    bottom[j] = 0
                for j in range(ow):
                    k = index_row[j]
                    v = g_row[j] if k < NO_WINNER else 0  # NO_WINNER stores 0 at offset 0
                    col = 2 * j + (k & 1)
                    if k & 2:
                        bottom[col] = v
                    else:
                        top[col] = v


@_compiled(("float", 4), ("float", 6))
def im2col_stride_1(xpad, cols):  # pragma: no cover - compiled
    """cols (C, kh, kw, N, OH, OW) = every kernel window of the padded input xpad (N, C, Hp, Wp)
    at stride 1 and dilation 1: ops.conv._columns's copy, one destination row at a time with no
    branch in the loop (2x faster than NumPy's 6-D strided copy at (64, 16, 14, 14), measured;
    a general-stride loop was 2.5x slower than this one, so only stride 1 comes here)."""
    n, c = xpad.shape[:2]
    kh, kw, _, oh, ow = cols.shape[1:]
    for q in range(c):
        for i in range(kh):
            for j in range(kw):
                for p in range(n):
                    plane, dst = xpad[p, q], cols[q, i, j, p]
                    for y in range(oh):
                        src, row = plane[y + i], dst[y]
                        for x in range(ow):
                            row[x] = src[x + j]


@_compiled(("float", 2), (numba.int64, 1), numba.int64, ("float", 2))
def log_softmax_nll(z, target, ignore_index, logp):  # pragma: no cover - compiled
    """logp = log_softmax(z) over each row of z (rows, classes), ops.loss.CrossEntropy's
    formula (z - max) - log(sum(exp(z - max))). Returns (the sum over rows of -logp[row, target],
    in float64; whether a target is ignore_index or outside 0..classes-1: then nothing is
    computed and the caller takes the general path)."""
    rows, classes = z.shape
    for r in range(rows):
        t = target[r]
        if t == ignore_index or t < 0 or t >= classes:
            return 0.0, True
    total = 0.0
    for r in range(rows):
        row, out = z[r], logp[r]
        top = row[0]
        for c in range(1, classes):
            if row[c] > top or row[c] != row[c]:
                top = row[c]
        s = np.exp(row[0] - top)  # summed in the row's dtype, left to right
        for c in range(1, classes):
            s += np.exp(row[c] - top)
        log_s = np.log(s)
        for c in range(classes):
            out[c] = (row[c] - top) - log_s
        total -= out[target[r]]
    return total, False


@_compiled(("float", 2), (numba.int64, 1), "float", ("float", 2))
def softmax_nll_backward(logp, target, scale, grad):  # pragma: no cover - compiled
    """grad = (exp(logp) - onehot(target)) * scale: the cross-entropy gradient for every row
    weighted 1 (no class weights, smoothing or ignored targets)."""
    rows, classes = logp.shape
    for r in range(rows):
        src, out, t = logp[r], grad[r], target[r]
        for c in range(classes):
            p = np.exp(src[c])
            out[c] = (p - 1 if c == t else p) * scale


@numba.njit([(numba.types.Array(numba.int64, 1, "C"), numba.int64)], **_JIT)
def all_classes(target, classes):  # pragma: no cover - compiled
    """Whether every target is a class index 0..classes-1 (one pass; NumPy's min and max are
    two, plus their Python-level overhead, every step)."""
    for i in range(target.shape[0]):
        if target[i] < 0 or target[i] >= classes:
            return False
    return True
