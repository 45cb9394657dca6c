"""Collectives on Tensors (all_reduce, broadcast, all_gather, barrier) over the default group.

A NumPy array is handed to MPI as it is (a contiguous copy when it is not contiguous) and reduced
in place; a CuPy array as a device buffer when MPI is CUDA-aware, else through a host copy written
back after. Either way the tensor's version counter is bumped, as for any in-place write.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import backend
from engine.distributed.group import ReduceOp, Work, _check_rank, _done, _Group, _require, _wait


def _staged(array: Any, group: _Group) -> tuple[Any, bool]:
    """(buffer MPI may read and write, whether it is a copy to write back into array)."""
    if backend.is_numpy(backend.get_array_module(array)):
        if array.flags.c_contiguous and array.flags.writeable:
            return array, False
        return np.ascontiguousarray(array), True
    if group.cuda_aware:
        backend.synchronize_cuda()  # MPI reads device memory directly: queued kernels first
        if array.flags.c_contiguous:
            return array, False
        return backend.get_array_module(array).ascontiguousarray(array), True
    return backend.to_numpy(array), True  # a host copy, written back after


def _write_back(array: Any, buf: Any) -> None:
    array[...] = backend.to_device(buf, backend.device_of(array))


def _array(tensor: Any) -> Any:
    return tensor._data if hasattr(tensor, "_data") else tensor


def _mark(tensor: Any) -> None:
    if hasattr(tensor, "_vc"):
        from engine.tensor_inplace import mark_written  # noqa: PLC0415

        mark_written(tensor)


def _mpi_op(op: ReduceOp, group: _Group, boolean: bool) -> Any:
    mpi = group.mpi
    if boolean:  # as PyTorch's backends reduce bool: SUM and MAX are any, PRODUCT and MIN all
        return {ReduceOp.SUM: mpi.MAX, ReduceOp.PRODUCT: mpi.MIN, ReduceOp.MIN: mpi.MIN,
                ReduceOp.MAX: mpi.MAX}[op]
    return {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD,
            ReduceOp.MIN: mpi.MIN, ReduceOp.MAX: mpi.MAX}[op]


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Combine tensor over every rank, in place: each ends holding the same result.

    AVG is the sum divided by the world size (floating-point tensors only). A bool tensor's SUM
    and MAX are a logical or, PRODUCT and MIN a logical and (as in PyTorch). With async_op the
    collective still completes before returning; the Work returned says so.
    """
    g = _require(group)
    if not isinstance(op, ReduceOp):
        raise ValueError(f"op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), got {op!r}")
    array = _array(tensor)
    if op is ReduceOp.AVG and array.dtype.kind != "f":
        raise TypeError(f"ReduceOp.AVG needs a floating-point tensor, got {array.dtype}")
    if g.size == 1:
        return _done(async_op)
    buf, copied = _staged(array, g)
    boolean = buf.dtype.kind == "b"
    # MPI's C bool type has only logical reductions: reduce its bytes (0 or 1) as uint8 instead.
    target = buf.view(backend.get_array_module(buf).uint8) if boolean else buf
    _wait(g.comm.Iallreduce(g.mpi.IN_PLACE, target, op=_mpi_op(op, g, boolean)), "all_reduce", g)
    if op is ReduceOp.AVG:
        buf /= g.size
    if copied:
        _write_back(array, buf)
    _mark(tensor)
    return _done(async_op)


def broadcast(tensor: Any, src: int = 0, group: Any = None,
              async_op: bool = False) -> Work | None:
    """Copy rank src's tensor into every other rank's tensor (same shape and dtype)."""
    g = _require(group)
    _check_rank(src, g, "src")
    if g.size == 1:
        return _done(async_op)
    array = _array(tensor)
    buf, copied = _staged(array, g)
    _wait(g.comm.Ibcast(buf, root=src), "broadcast", g)
    if copied and g.rank != src:
        _write_back(array, buf)
    if g.rank != src:
        _mark(tensor)
    return _done(async_op)


def all_gather(tensor_list: list[Any], tensor: Any, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Fill tensor_list[r] with rank r's tensor, on every rank."""
    g = _require(group)
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the world "
                         f"size is {g.size}")
    array = _array(tensor)
    for out in tensor_list:
        if tuple(_array(out).shape) != tuple(array.shape) or _array(out).dtype != array.dtype:
            raise ValueError("all_gather: every tensor of tensor_list must have the shape and "
                             f"dtype of tensor ({tuple(array.shape)}, {array.dtype})")
    if g.size == 1:
        _array(tensor_list[0])[...] = array
        _mark(tensor_list[0])
        return _done(async_op)
    send, _ = _staged(array, g)
    xp = backend.get_array_module(send)
    recv = xp.empty((g.size, *array.shape), dtype=array.dtype)
    _wait(g.comm.Iallgather(send, recv), "all_gather", g)
    for r, out in enumerate(tensor_list):
        _array(out)[...] = backend.to_device(recv[r], backend.device_of(_array(out)))
        _mark(out)
    return _done(async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Return once every rank has called barrier."""
    g = _require(group)
    if g.size > 1:
        _wait(g.comm.Ibarrier(), "barrier", g)
    return _done(async_op)
