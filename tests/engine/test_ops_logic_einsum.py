"""prod, einsum, meshgrid, diagonals, repeat_interleave, elementwise tests and logic, all/any over
dims and the new_* factories: values and gradients vs PyTorch and float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

PRODS = {
    "all": lambda a: a.prod(),
    "dim": lambda a: a.prod(1),
    "neg_dim_keepdim": lambda a: a.prod(-2, keepdim=True),
    "fn": lambda a: lib_of(a).prod(a, 0),
}


@pytest.mark.parametrize("name", list(PRODS))
def test_prod(name: str, backend: str) -> None:
    check_op([(3, 4)], PRODS[name], low=0.5, high=1.5, device=backend)


def test_prod_gradient_with_zeros_and_dtypes() -> None:
    values = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, -2.0, 4.0]])
    for fn in (lambda a: a.prod(), lambda a: a.prod(1), lambda a: a.prod(0, keepdim=True)):
        check_op([values], fn)
    check_op([()], lambda a: a.prod())
    torch = pytest.importorskip("torch")
    for dtype in ("int32", "uint8", "bool", "float64"):
        ours = en.tensor([1, 1, 1]).to(getattr(en, "bool_" if dtype == "bool" else dtype)).prod()
        theirs = torch.tensor([1, 1, 1]).to(getattr(torch, dtype)).prod()
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")


EINSUMS = {
    "matmul": ("ij,jk->ik", [(3, 4), (4, 2)]),
    "batched": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    "implicit": ("ij,jk", [(3, 4), (4, 2)]),
    "transpose": ("ij->ji", [(3, 4)]),
    "sum_all": ("ij->", [(3, 4)]),
    "row_sums": ("ij->i", [(3, 4)]),
    "outer": ("i,j->ij", [(3,), (4,)]),
    "dot": ("i,i->", [(5,), (5,)]),
    "unique_letter": ("ij,j->j", [(3, 4), (4,)]),
    "three": ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    "ellipsis": ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    "attention": ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    "spaces": ("b i j , b j -> b i", [(2, 3, 4), (2, 4)]),
}


@pytest.mark.parametrize("name", list(EINSUMS))
def test_einsum(name: str, backend: str) -> None:
    equation, shapes = EINSUMS[name]
    check_op(shapes, lambda *ts: lib_of(ts[0]).einsum(equation, *ts), device=backend)


def test_einsum_list_form_broadcast_and_errors() -> None:
    check_op([(3, 4), (4, 2)], lambda a, b: lib_of(a).einsum("ij,jk->ik", [a, b]))
    check_op([(1, 3, 4), (2, 4, 5)], lambda a, b: lib_of(a).einsum("...ij,...jk->...ik", a, b))
    with pytest.raises(RuntimeError, match="more operands were provided than specified"):
        en.einsum("ij->i", en.ones(2, 2), en.ones(2))
    with pytest.raises(RuntimeError, match=r"the number of subscripts in the equation \(2\) does "
                                           r"not match the number of dimensions \(3\)"):
        en.einsum("ij->i", en.ones(2, 2, 2))
    assert en.einsum("ii->i", en.eye(3)).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing: str) -> None:
    check_op([(3,), (2,), (4,)], lambda a, b, c: lib_of(a).meshgrid(a, b, c, indexing=indexing))
    check_op([(3,), (2,)], lambda a, b: lib_of(a).meshgrid([a, b], indexing=indexing))


DIAGONALS = {
    "diagonal": ((3, 4), lambda a: a.diagonal()),
    "diagonal_offset": ((3, 4), lambda a: a.diagonal(1)),
    "diagonal_neg_offset_dims": ((2, 3, 4), lambda a: a.diagonal(-1, dim1=-1, dim2=0)),
    "diag_of_matrix": ((4, 3), lambda a: lib_of(a).diag(a, -1)),
    "diag_of_vector": ((3,), lambda a: a.diag()),
    "diag_of_vector_offset": ((3,), lambda a: lib_of(a).diag(a, 2)),
    "diag_of_vector_neg_offset": ((3,), lambda a: a.diag(-1)),
    "repeat_interleave": ((2, 3), lambda a: a.repeat_interleave(2)),
    "repeat_interleave_dim": ((2, 3), lambda a: a.repeat_interleave(3, dim=1)),
    "repeat_interleave_counts": ((3, 2), lambda a: lib_of(a).repeat_interleave(
        a, lib_of(a).tensor([1, 0, 2]), dim=0)),
}


@pytest.mark.parametrize("name", list(DIAGONALS))
def test_diagonals_and_repeats(name: str, backend: str) -> None:
    shape, fn = DIAGONALS[name]
    check_op([shape], fn, device=backend)


def test_elementwise_tests_and_logic() -> None:
    torch = pytest.importorskip("torch")
    values = [1.0, np.nan, np.inf, -np.inf, 0.0, -2.0]
    ours, theirs = en.tensor(values), torch.tensor(values)
    for name in ("isnan", "isinf", "isposinf", "isneginf", "isfinite", "logical_not"):
        got, want = getattr(ours, name)(), getattr(theirs, name)()
        assert got.dtype == en.bool_ and got.tolist() == want.tolist(), name
        assert getattr(en, name)(ours).tolist() == want.tolist()
    other_values = [1.0, 0.0, 2.0, 0.0, 0.0, 1.0]
    for name in ("logical_and", "logical_or", "logical_xor"):
        got = getattr(ours, name)(en.tensor(other_values))
        assert got.tolist() == getattr(theirs, name)(torch.tensor(other_values)).tolist(), name
    np.testing.assert_array_equal(ours.nan_to_num().numpy(), theirs.nan_to_num().numpy())
    np.testing.assert_array_equal(en.nan_to_num(ours, nan=1.0, posinf=9.0, neginf=-9.0).numpy(),
                                  torch.nan_to_num(theirs, 1.0, 9.0, -9.0).numpy())
    near = [1.0 + 1e-7, np.nan, np.inf, -np.inf, 1e-9, -2.1]
    for kwargs in ({}, {"equal_nan": True}, {"atol": 0.2}):
        assert (ours.isclose(en.tensor(near), **kwargs).tolist()
                == theirs.isclose(torch.tensor(near), **kwargs).tolist())
    assert en.equal(en.tensor([1, 2]), en.tensor([1, 2]))
    assert not en.tensor([1, 2]).equal(en.tensor([1, 3]))
    assert not en.tensor([1, 2]).equal(en.tensor([[1, 2]]))


def test_nan_to_num_gradient_flows_where_finite() -> None:
    check_op([np.array([1.0, np.nan, np.inf, -2.0])], lambda a: a.nan_to_num(posinf=5.0),
             gradcheck=False)
    check_op([(3, 4)], lambda a: a.nan_to_num())


def test_all_any_over_dims() -> None:
    torch = pytest.importorskip("torch")
    values = [[True, False, True], [True, True, True]]
    ours, theirs = en.tensor(values), torch.tensor(values)
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            assert ours.all(dim, keepdim).tolist() == theirs.all(dim, keepdim).tolist()
            assert en.any(ours, dim=dim, keepdim=keepdim).tolist() == theirs.any(
                dim, keepdim).tolist()
    assert ours.all().item() is False and ours.any().item() is True


def test_new_factories_take_dtype_and_device_from_self() -> None:
    x = en.ones(2, dtype=en.float64)
    assert x.new_zeros(2, 3).dtype == en.float64 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(3).tolist() == [1.0, 1.0, 1.0]
    assert x.new_full((2,), 4).tolist() == [4.0, 4.0] and x.new_full((2,), 4).dtype == en.float64
    assert x.new_empty(0).shape == (0,)
    made = x.new_tensor([1, 2], requires_grad=True)
    assert made.dtype == en.float64 and made.requires_grad and made.tolist() == [1.0, 2.0]
    assert x.new_tensor([1, 2], dtype=en.int64).dtype == en.int64
    assert en.tensor([1]).new_zeros(2, dtype=en.float32).dtype == en.float32
