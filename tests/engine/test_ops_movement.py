"""Shape ops, indexing, cat/stack/pad and matmul: forward and gradients vs PyTorch + gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

SHAPE_OPS = {
    "reshape": ((2, 3, 4), lambda a: a.reshape(4, -1)),
    "reshape_tuple": ((2, 3, 4), lambda a: a.reshape((6, 4))),
    "reshape_0d": ((), lambda a: a.reshape(1, 1)),
    "reshape_to_0d": ((1, 1), lambda a: a.reshape(())),
    "view": ((2, 3, 4), lambda a: a.view(3, 8)),
    "flatten": ((2, 3, 4), lambda a: a.flatten()),
    "flatten_range": ((2, 3, 4, 5), lambda a: a.flatten(1, 2)),
    "flatten_neg": ((2, 3, 4), lambda a: a.flatten(start_dim=-2)),
    "flatten_0d": ((), lambda a: a.flatten()),
    "transpose": ((2, 3, 4), lambda a: a.transpose(0, 2)),
    "transpose_neg": ((2, 3, 4), lambda a: a.transpose(-1, -2)),
    "permute": ((2, 3, 4), lambda a: a.permute(2, 0, 1)),
    "permute_tuple_neg": ((2, 3, 4), lambda a: a.permute((-1, 0, 1))),
    "T": ((3, 4), lambda a: a.T),
    "t": ((3, 4), lambda a: a.t()),
    "mT": ((2, 3, 4), lambda a: a.mT),
    "unsqueeze": ((3, 4), lambda a: a.unsqueeze(1)),
    "unsqueeze_neg": ((3, 4), lambda a: a.unsqueeze(-1)),
    "unsqueeze_0d": ((), lambda a: a.unsqueeze(0)),
    "squeeze_all": ((1, 3, 1, 4), lambda a: a.squeeze()),
    "squeeze_dim": ((1, 3, 1, 4), lambda a: a.squeeze(2)),
    "squeeze_neg_noop": ((1, 3, 1, 4), lambda a: a.squeeze(-1)),
    "squeeze_tuple": ((1, 3, 1, 4), lambda a: a.squeeze((0, 2))),
    "expand": ((3, 1), lambda a: a.expand(3, 4)),
    "expand_new_dims": ((3, 1), lambda a: a.expand(2, -1, 5)),
    "expand_0d": ((), lambda a: a.expand(2, 3)),
    "expand_as": ((1, 4), lambda a: a.expand_as(a.new_zeros(3, 4)) if hasattr(a, "new_zeros")
                  else a.expand(3, 4)),
    "contiguous": ((3, 4), lambda a: a.transpose(0, 1).contiguous() * 1),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(name: str, backend: str) -> None:
    shape, fn = SHAPE_OPS[name]
    check_op([shape], fn, device=backend)


@pytest.mark.parametrize("layout", ["strided", "transposed"])
@pytest.mark.parametrize("name", ["reshape", "flatten", "permute", "view", "expand"])
def test_shape_ops_non_contiguous(name: str, layout: str) -> None:
    shape, fn = SHAPE_OPS[name]
    check_op([shape], fn, layout=layout)


GETITEM = {
    "int": lambda a: a[1],
    "neg_int": lambda a: a[-1, 2],
    "slice": lambda a: a[1:3],
    "step_slice": lambda a: a[::2, 1::2],
    "neg_step_free": lambda a: a[:, -3:-1],
    "none": lambda a: a[None, :, None],
    "ellipsis": lambda a: a[..., 1],
    "ellipsis_none": lambda a: a[1, ..., None],
    "int_array_repeats": lambda a: a[[0, 2, 0, 0]],
    "int_array_2d": lambda a: a[lib_of(a).tensor([[0, 1], [3, 3]])],
    "int_array_pair": lambda a: a[[0, 1, 1], [2, 2, 0]],
    "int_array_and_slice": lambda a: a[1:, [0, 0, 3]],
    "tensor_index": lambda a: a[lib_of(a).tensor([3, 1, 3])],
    "bool_mask": lambda a: a[a > 0],
    "bool_row_mask": lambda a: a[lib_of(a).tensor([True, False, True, True])],
    "all": lambda a: a[:],
}


@pytest.mark.parametrize("name", list(GETITEM))
def test_getitem(name: str, backend: str) -> None:
    check_op([(4, 5)], GETITEM[name], device=backend)


def test_getitem_0d_and_1d() -> None:
    check_op([(5,)], lambda a: a[2])
    check_op([()], lambda a: a[None])
    check_op([()], lambda a: a[...])
    check_op([(4, 5)], lambda a: a[1:3], layout="transposed")
    check_op([(4, 5)], lambda a: a[[0, 0, 2]], layout="strided")


def test_setitem() -> None:
    def set_slice(a, b):
        c = a * 1
        c[1:3, 0] = b
        return c

    def set_mask(a):
        c = a * 1
        c[c > 0.5] = 0.0
        return c

    def set_int_array(a, b):
        c = a + 0
        c[[0, 2]] = b
        return c

    check_op([(4, 3), (2,)], set_slice)
    check_op([(4, 3), ()], set_slice)
    check_op([(4, 3)], set_mask)
    check_op([(4, 3), (3,)], set_int_array)


def test_setitem_on_plain_tensor_bumps_version_and_values() -> None:
    x = en.zeros(2, 3)
    x[0] = 1.0
    x[:, 2] = en.tensor([5.0, 6.0])
    assert x.tolist() == [[1, 1, 5], [0, 0, 6]] and x._version == 2


CAT_CASES = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3), (2, 2)], -1),
    ([(2, 3, 4), (2, 1, 4)], 1),
]


@pytest.mark.parametrize("shapes, dim", CAT_CASES, ids=str)
def test_cat(shapes, dim: int, backend: str) -> None:
    check_op(shapes, lambda *ts: lib_of(ts[0]).cat(list(ts), dim=dim), device=backend)


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_stack(dim: int, backend: str) -> None:
    check_op([(2, 3), (2, 3), (2, 3)], lambda *ts: lib_of(ts[0]).stack(ts, dim=dim), device=backend)


def test_cat_stack_non_contiguous_and_partial_grad() -> None:
    check_op([(2, 3), (2, 3)], lambda a, b: lib_of(a).cat([a, b], 1), layout="transposed")
    check_op([(2, 3), (2, 3)], lambda a, b: lib_of(a).stack([a, b]), requires_grad=[False, True])
    check_op([(), ()], lambda a, b: lib_of(a).stack([a, b]))


PADS = [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1), (-1, 2), (2, -1, 0, 1)]


@pytest.mark.parametrize("pad", PADS, ids=str)
def test_pad(pad: tuple, backend: str) -> None:
    def fn(a):
        return lib_of(a).nn.functional.pad(a, pad, value=0.5)

    check_op([(2, 3, 4)], fn, device=backend)


MATMUL_SHAPES = [
    ((4,), (4,)),
    ((3, 4), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4, 5)),
    ((2, 3, 4), (4, 5)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 4), (4, 1)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes: tuple, backend: str) -> None:
    check_op(shapes, lambda a, b: a @ b, device=backend, numpy_fn=np.matmul)


def test_matmul_forms_and_non_contiguous() -> None:
    check_op([(3, 4), (4, 5)], lambda a, b: a.matmul(b), layout="transposed")
    check_op([(3, 4), (4, 5)], lambda a, b: lib_of(a).matmul(a, b), layout="strided")
    check_op([(3, 4), (4, 5)], lambda a, b: a @ b, requires_grad=[False, True])
    check_op([(3, 4), (5, 4)], lambda a, b: a @ b.T)


def test_matmul_with_numpy_left_operand() -> None:
    a = np.ones((2, 3), dtype=np.float32)
    b = en.ones(3, 4, requires_grad=True)
    out = a @ b
    assert isinstance(out, en.Tensor) and out.shape == (2, 4)
    out.sum().backward()
    assert b.grad.tolist() == [[2.0] * 4] * 3


def test_chained_graph_matches_torch() -> None:
    """A small MLP-like graph mixing many ops, checked end to end."""

    def net(x, w1, w2):
        lib = lib_of(x)
        h = (x @ w1).relu() + (x @ w1).sigmoid() * 0.5
        h = lib.cat([h, h[:, :1] ** 2], dim=1)
        return (h @ w2).log_softmax(dim=-1).mean(0).sum() + h.var() - h.amax(dim=0).sum()

    check_op([(4, 3), (3, 5), (6, 2)], net)
