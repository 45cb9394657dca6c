"""default_collate and default_convert: PyTorch's structure, dtypes and errors."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import engine as en
from engine.utils.data import default_collate, default_convert

Point = collections.namedtuple("Point", "x y")


def samples():
    return [
        {"img": np.full((2, 2), i, np.uint8), "label": i, "w": i / 2, "ok": i % 2 == 0,
         "name": f"s{i}", "pair": (i, float(i)), "seq": [i, i + 1], "pt": Point(i, -i),
         "t": en.tensor([i, i * 10]), "np64": np.float64(i)}
        for i in range(3)
    ]


def structure(batch, torch):
    """(type name, dtype, shape or value) for each leaf, in torch or ours, comparable."""
    if isinstance(batch, dict):
        return {k: structure(v, torch) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return (type(batch).__name__, [structure(b, torch) for b in batch])
    if isinstance(batch, list):
        return ["list", [structure(b, torch) for b in batch]]
    if isinstance(batch, str | int | float):
        return batch
    if torch is not None and isinstance(batch, torch.Tensor):
        return ("tensor", str(batch.dtype).removeprefix("torch."), tuple(batch.shape),
                batch.tolist())
    assert isinstance(batch, en.Tensor), type(batch)
    return ("tensor", str(batch.dtype).removeprefix("engine."), tuple(batch.shape),
            batch.tolist())


def torch_samples(torch):
    out = samples()
    for s in out:
        s["t"] = torch.tensor(s["t"].tolist())
    return out


def test_default_collate_matches_torch_structure_and_dtypes():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    ours = structure(default_collate(samples()), None)
    theirs = structure(torch_collate(torch_samples(torch)), torch)
    assert ours == theirs
    assert ours["w"][1] == "float64" and ours["ok"][1] == "bool" and ours["label"][1] == "int64"
    assert ours["name"] == ["list", ["s0", "s1", "s2"]]


def test_tuples_collate_to_lists_as_in_torch():
    batch = default_collate([(np.zeros(3, np.float32), 1), (np.ones(3, np.float32), 2)])
    assert isinstance(batch, list) and len(batch) == 2
    x, y = batch
    assert x.shape == (2, 3) and x.dtype == en.float32 and y.tolist() == [1, 2]


def test_default_collate_errors_are_torchs():
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy "
                                        "arrays, numbers, dicts or lists; found <class "
                                        "'NoneType'>"):
        default_collate([None, None])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal "
                                           "size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_convert as torch_convert

    data = {"a": np.arange(3), "b": (np.float32(2.5), 7), "c": "text", "d": [np.ones(2)]}
    assert structure(default_convert(data), None) == structure(torch_convert(data), torch)
