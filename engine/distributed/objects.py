"""Collectives on objects (broadcast_object_list, all_gather_object) in engine.save's format:
state dicts and JSON-like values travel as safetensors bytes, never pickle, so nothing received runs
code.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from engine.distributed.group import _check_rank, _require, _wait


def _encode(obj: Any) -> np.ndarray:
    from engine.serialization import save  # noqa: PLC0415

    out = io.BytesIO()
    save({"obj": obj}, out)
    return np.frombuffer(out.getvalue(), dtype=np.uint8)


def _decode(blob: np.ndarray) -> Any:
    from engine.serialization import load  # noqa: PLC0415

    return load(io.BytesIO(blob.tobytes()))["obj"]


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None,
                          device: Any = None) -> None:
    """Replace object_list's items on every rank by rank src's (in place).

    The objects are what engine.save stores (nested dicts, lists and tuples of Tensors, arrays,
    numbers, strings, None): no pickle, so nothing received can run code.
    """
    g = _require(group)
    _check_rank(src, g, "src")
    if g.size == 1:
        return
    blob = _encode(list(object_list)) if g.rank == src else np.empty(0, np.uint8)
    size = np.array([blob.size], dtype=np.int64)
    _wait(g.comm.Ibcast(size, root=src), "broadcast_object_list", g)
    if g.rank != src:
        blob = np.empty(int(size[0]), dtype=np.uint8)
    _wait(g.comm.Ibcast(blob, root=src), "broadcast_object_list", g)
    if g.rank != src:
        received = _decode(blob)
        if len(received) != len(object_list):
            raise ValueError(f"broadcast_object_list: rank {src} sent {len(received)} objects, "
                             f"this rank's list has {len(object_list)}")
        object_list[:] = received


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """Fill object_list[r] with rank r's obj on every rank (objects as broadcast_object_list)."""
    g = _require(group)
    if len(object_list) != g.size:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} items, the "
                         f"world size is {g.size}")
    if g.size == 1:
        object_list[0] = obj
        return
    blob = _encode(obj)
    sizes = np.empty(g.size, dtype=np.int64)
    _wait(g.comm.Iallgather(np.array([blob.size], dtype=np.int64), sizes), "all_gather_object",
          g)
    recv = np.empty(int(sizes.sum()), dtype=np.uint8)
    _wait(g.comm.Iallgatherv(blob, [recv, sizes]), "all_gather_object", g)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for r in range(g.size):
        object_list[r] = _decode(recv[starts[r]:starts[r + 1]])
