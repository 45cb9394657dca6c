"""Unbuffered scatter (ufunc.at) that works within CuPy's limits: the one helper the index ops use.

CuPy (14.2) has scatter kernels for add on int32/int64/uint32/uint64/float16/float32/float64
and for maximum/minimum on the same less float16, and none for multiply. Other dtypes are
scattered in a wider dtype that holds every value exactly and cast back; multiply is a sorted,
segmented product. NumPy takes every case directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backend import get_array_module, is_numpy

_ADD = frozenset(["int32", "int64", "uint32", "uint64", "float16", "float32", "float64"])
_CUPY_AT = {"add": _ADD, "maximum": _ADD - {"float16"}, "minimum": _ADD - {"float16"}}


def scatter_at(name: str, out: Any, index: Any, values: Any) -> None:
    """getattr(xp, name).at(out, index, values) for name in add, maximum, minimum, multiply."""
    xp = get_array_module(out)
    if is_numpy(xp):
        getattr(np, name).at(out, index, values)
    elif name == "multiply":
        _segmented_product(xp, out, index, values)
    elif out.dtype.name in _CUPY_AT[name]:
        getattr(xp, name).at(out, index, values)
    else:
        # float16 -> float32, small or bool integers -> 32 bits: exact; the cast back wraps an
        # integer sum as NumPy's in-place add does, and turns a nonzero sum into True for bool.
        wide = np.float32 if out.dtype.kind == "f" else (
            np.uint32 if out.dtype.kind == "u" else np.int32)
        tmp = out.astype(wide)
        getattr(xp, name).at(tmp, index, values.astype(wide) if hasattr(values, "astype")
                             else values)
        out[...] = tmp.astype(out.dtype)


def _segmented_product(xp: Any, out: Any, index: Any, values: Any) -> None:
    """out[index] *= values with repeated positions multiplying up, without multiply.at.

    The addressed positions are sorted, and a doubling scan (log2 n passes, each elementwise)
    leaves every element of a run of equal positions holding the run's whole product, so the
    final write, repeated positions included, writes one value per position. No host sync.
    """
    positions = xp.arange(out.size).reshape(out.shape)[index]
    if isinstance(values, np.generic | int | float):  # a scalar: made on the GPU, no copy
        vals = xp.full(positions.shape, values, dtype=out.dtype).reshape(-1)
    else:
        vals = xp.broadcast_to(values.astype(out.dtype, copy=False), positions.shape).reshape(-1)
    flat = positions.reshape(-1)
    n = flat.size
    if n == 0:
        return
    order = xp.argsort(flat, kind="stable")
    pos, prod = flat[order], vals[order]
    step = 1
    while step < n:  # inclusive scan: prod[i] = product of its run up to i
        same = pos[step:] == pos[:-step]
        head = prod.copy()
        head[step:] = xp.where(same, prod[step:] * prod[:-step], prod[step:])
        prod, step = head, step * 2
    step = 1
    while step < n:  # spread each run's last (whole) product back over the run
        same = pos[step:] == pos[:-step]
        tail = prod.copy()
        tail[:-step] = xp.where(same, prod[step:], prod[:-step])
        prod, step = tail, step * 2
    total = xp.empty_like(prod)
    total[order] = prod
    out[index] = out[index] * total.reshape(positions.shape)
