"""chunk/split/unbind/narrow, flip/roll/repeat/tril/triu, contiguous and cumsum/cumprod: values and
gradients vs PyTorch and float64 gradcheck, dtypes and errors as PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

SPLITS = {
    "chunk": lambda a: a.chunk(2),
    "chunk_uneven": lambda a: a.chunk(3, dim=1),
    "chunk_more_than_size": lambda a: a.chunk(9, dim=0),
    "chunk_fn": lambda a: lib_of(a).chunk(a, 2, -1),
    "split_int": lambda a: a.split(2, dim=1),
    "split_sizes": lambda a: a.split([1, 3, 1], dim=1),
    "split_fn": lambda a: lib_of(a).split(a, [3, 1]),
    "tensor_split": lambda a: a.tensor_split(3, dim=1),
    "tensor_split_indices": lambda a: a.tensor_split([1, 3], dim=1),
    "unbind": lambda a: a.unbind(),
    "unbind_neg": lambda a: lib_of(a).unbind(a, -1),
    "narrow": lambda a: a.narrow(1, 1, 3),
    "narrow_neg_start": lambda a: lib_of(a).narrow(a, -1, -2, 2),
    "select": lambda a: a.select(1, -1),
}


@pytest.mark.parametrize("name", list(SPLITS))
def test_splits(name: str, backend: str) -> None:
    check_op([(4, 5)], SPLITS[name], device=backend)


def test_splits_are_views() -> None:
    x = en.zeros(4, 6)
    first, _ = x.chunk(2, dim=1)
    first.fill_(1.0)
    assert x[:, :3].numpy().all() and not x[:, 3:].numpy().any()
    x.narrow(0, 3, 1).fill_(2.0)
    assert x[3].tolist() == [2.0] * 6


def test_split_errors() -> None:
    x = en.zeros(5)
    with pytest.raises(RuntimeError, match=r"split_with_sizes expects split_sizes to sum exactly "
                                           r"to 5 .*split_sizes=\[2, 2\]"):
        x.split([2, 2])
    with pytest.raises(RuntimeError, match="chunk expects `chunks` to be greater than 0, got: 0"):
        x.chunk(0)
    with pytest.raises(RuntimeError, match=r"start \(4\) \+ length \(2\) exceeds dimension size"):
        x.narrow(0, 4, 2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.split(2, dim=1)


SHAPES = {
    "flip": ((2, 3, 4), lambda a: a.flip(0, 2)),
    "flip_list_neg": ((2, 3, 4), lambda a: a.flip([-1])),
    "flip_fn": ((2, 3), lambda a: lib_of(a).flip(a, (0,))),
    "fliplr": ((2, 3), lambda a: a.fliplr()),
    "flipud": ((2, 3), lambda a: lib_of(a).flipud(a)),
    "roll_flat": ((3, 4), lambda a: a.roll(5)),
    "roll_dim": ((3, 4), lambda a: a.roll(-1, 1)),
    "roll_dims": ((3, 4), lambda a: lib_of(a).roll(a, (1, 2), (0, 1))),
    "repeat": ((2, 3), lambda a: a.repeat(2, 3)),
    "repeat_new_dims": ((2, 3), lambda a: a.repeat(2, 1, 2)),
    "repeat_tuple": ((3,), lambda a: a.repeat((4,))),
    "tril": ((4, 5), lambda a: a.tril()),
    "tril_diag": ((2, 4, 5), lambda a: a.tril(-1)),
    "triu": ((4, 5), lambda a: a.triu(1)),
    "triu_fn": ((4, 4), lambda a: lib_of(a).triu(a, diagonal=-2)),
    "contiguous": ((3, 4), lambda a: a.t().contiguous()),
    "view_as": ((3, 4), lambda a: a.view_as(lib_of(a).zeros(2, 6))),
    "reshape_as": ((3, 4), lambda a: a.reshape_as(lib_of(a).zeros(12))),
    "expand_as": ((3, 1), lambda a: a.expand_as(lib_of(a).zeros(2, 3, 4))),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape_ops(name: str, backend: str) -> None:
    shape, fn = SHAPES[name]
    check_op([shape], fn, device=backend)


def test_non_contiguous_inputs() -> None:
    for name in ("flip", "repeat", "tril", "roll_dim"):
        shape, fn = SHAPES[name]
        check_op([shape], fn, layout="transposed")


def test_repeat_needs_enough_sizes() -> None:
    with pytest.raises(RuntimeError, match="Number of dimensions of repeat dims can not be "
                                           "smaller than number of dimensions of tensor"):
        en.zeros(3, 4).repeat(2)


def test_tril_triu_need_a_matrix() -> None:
    for name in ("tril", "triu"):
        with pytest.raises(RuntimeError, match=f"{name}: input tensor must have at least 2 "
                                               "dimensions"):
            getattr(en.zeros(3), name)()


def test_is_contiguous_and_contiguous() -> None:
    x = en.randn(3, 4)
    assert x.is_contiguous() and x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous() and c.tolist() == t.tolist()
    assert not en.zeros(3, 1).expand(3, 4).is_contiguous()
    assert x.is_contiguous(memory_format=en.contiguous_format)
    with pytest.raises(RuntimeError, match="preserve memory format is unsupported"):
        x.contiguous(memory_format=en.preserve_format)
    with pytest.raises(TypeError, match="must be torch.memory_format"):
        x.contiguous(memory_format="contiguous")


SCANS = {
    "cumsum": lambda a: a.cumsum(1),
    "cumsum_dim0": lambda a: a.cumsum(dim=0),
    "cumsum_neg_fn": lambda a: lib_of(a).cumsum(a, -1),
    "cumprod": lambda a: a.cumprod(1),
    "cumprod_fn": lambda a: lib_of(a).cumprod(a, dim=0),
}


@pytest.mark.parametrize("name", list(SCANS))
def test_scans(name: str, backend: str) -> None:
    check_op([(3, 4)], SCANS[name], device=backend)


def test_scans_0d_and_layouts() -> None:
    check_op([()], lambda a: a.cumsum(0))
    check_op([()], lambda a: a.cumprod(-1))
    check_op([(3, 4)], lambda a: a.cumsum(0), layout="strided")
    check_op([(3, 4)], lambda a: a.cumprod(1), layout="transposed")


def test_cumprod_gradient_with_zeros() -> None:
    values = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0], [1.0, -2.0, 0.0, 4.0]])
    check_op([values], lambda a: a.cumprod(1))
    check_op([values], lambda a: a.cumprod(0))


def test_scan_dtypes_follow_torch() -> None:
    torch = pytest.importorskip("torch")
    for dtype in ("int32", "int64", "uint8", "bool", "float64"):
        ours = en.tensor([1, 0, 1]).to(getattr(en, "bool_" if dtype == "bool" else dtype))
        theirs = torch.tensor([1, 0, 1]).to(getattr(torch, dtype))
        for name in ("cumsum", "cumprod"):
            got, want = getattr(ours, name)(0), getattr(theirs, name)(0)
            assert got.dtype.name == str(want.dtype).removeprefix("torch."), (dtype, name)
            assert got.tolist() == want.tolist()
    assert en.tensor([1, 2]).cumsum(0, dtype=en.float32).dtype == en.float32
