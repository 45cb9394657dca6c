"""Sorting, top-k, gather/scatter, index_select, masked_select, nonzero: values, indices and
gradients vs PyTorch and float64 gradcheck; error messages as PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

SORTS = {
    "sort_last": lambda a: a.sort(),
    "sort_dim0_desc": lambda a: a.sort(0, descending=True),
    "sort_neg_dim": lambda a: a.sort(dim=-2),
    "sort_fn": lambda a: lib_of(a).sort(a, dim=1, descending=True),
    "topk": lambda a: a.topk(2),
    "topk_smallest_dim0": lambda a: a.topk(2, dim=0, largest=False),
    "topk_fn": lambda a: lib_of(a).topk(a, 3, dim=-1),
    "topk_zero": lambda a: a.topk(0),
    "argsort": lambda a: a.argsort(dim=0, descending=True),
    "msort": lambda a: a.msort(),
}


@pytest.mark.parametrize("name", list(SORTS))
def test_sort_family(name: str, backend: str) -> None:
    check_op([(3, 5)], SORTS[name], device=backend)


def test_sort_0d_and_1d() -> None:
    check_op([()], lambda a: a.sort())
    check_op([(6,)], lambda a: a.sort(descending=True))
    check_op([(6,)], lambda a: a.topk(6))


def test_sort_is_stable_both_ways_and_nan_is_largest() -> None:
    torch = pytest.importorskip("torch")
    values = [2.0, 1.0, 2.0, np.nan, 1.0, 3.0, 2.0]
    for descending in (False, True):
        ours = en.tensor(values).sort(descending=descending)
        theirs = torch.tensor(values).sort(descending=descending, stable=True)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        assert ours.indices.tolist() == theirs.indices.tolist()
    ints = en.tensor([[3, 1, 3, 2]], dtype=en.int32).sort(descending=True)
    assert ints.values.dtype == en.int32 and ints.indices.dtype == en.int64
    assert ints.indices.tolist() == [[0, 2, 3, 1]]
    bools = en.tensor([True, False, True]).sort(descending=True)
    assert bools.indices.tolist() == [0, 2, 1]


def test_sort_and_topk_results_are_named_tuples() -> None:
    x = en.tensor([[1.0, 5.0, 3.0]])
    values, indices = x.topk(2)
    assert x.topk(2).values.tolist() == values.tolist() == [[5.0, 3.0]]
    assert x.topk(2).indices.tolist() == indices.tolist() == [[1, 2]]
    assert repr(x.sort()).startswith("engine.return_types.sort(")
    assert repr(x.topk(1)).startswith("engine.return_types.topk(")


def test_topk_k_out_of_range() -> None:
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        en.zeros(3, 4).topk(5)


INDEX = np.array([[0, 2, 1, 2], [1, 0, 0, 2]])

GATHER_SCATTER = {
    "gather_dim0": ([(3, 4), INDEX], lambda a, i: a.gather(0, i)),
    "gather_dim1": ([(2, 3), INDEX], lambda a, i: a.gather(1, i)),
    "gather_neg_dim": ([(2, 3), INDEX], lambda a, i: a.gather(-1, i)),
    "gather_fn_smaller_index": ([(4, 5), INDEX], lambda a, i: lib_of(a).gather(a, 0, i)),
    "take_along_dim": ([(2, 3), INDEX], lambda a, i: lib_of(a).take_along_dim(a, i, 1)),
    "scatter_src": ([(3, 4), np.array([[0, 1, 2, 0], [2, 0, 1, 1]]), (2, 4)],
                    lambda a, i, s: a.scatter(0, i, s)),
    "scatter_value": ([(3, 4), np.array([[0, 1, 2, 0]])], lambda a, i: a.scatter(0, i, 0.5)),
    "scatter_add": ([(3, 4), INDEX, (2, 4)], lambda a, i, s: a.scatter_add(0, i, s)),
    "scatter_add_fn": ([(3, 4), INDEX, (2, 4)], lambda a, i, s: lib_of(a).scatter_add(a, 0, i, s)),
}


@pytest.mark.parametrize("name", list(GATHER_SCATTER))
def test_gather_scatter(name: str, backend: str) -> None:
    inputs, fn = GATHER_SCATTER[name]
    check_op(inputs, fn, device=backend)


def test_scatter_cases_torch_cannot_differentiate() -> None:
    """src larger than index (torch's backward has a shape bug there) and reduce='add' (torch
    has no derivative): forward vs torch, gradients by float64 gradcheck."""
    cases = [
        ([(3, 5), np.array([[0, 1, 2]]), (2, 4)], lambda a, i, s: a.scatter(1, i, s)),
        ([(3, 4), INDEX, (2, 4)], lambda a, i, s: a.scatter(0, i, s, reduce="add")),
    ]
    for inputs, fn in cases:
        check_op(inputs, fn, requires_grad=[False, False, False])
        rng = np.random.default_rng(0)
        a, s = (en.tensor(rng.standard_normal(inputs[k]), dtype=en.float64, requires_grad=True)
                for k in (0, 2))
        index = en.tensor(inputs[1])
        en.autograd.gradcheck(lambda a, s, fn=fn, i=index: fn(a, i, s), [a, s])


def test_gather_repeated_indices_add_gradients() -> None:
    check_op([(3,), np.array([0, 0, 2, 0])], lambda a, i: a.gather(0, i))
    check_op([(3, 2), np.array([[1, 1], [1, 0]])], lambda a, i: a.gather(0, i), layout="strided")


def test_in_place_scatter_forms() -> None:
    torch = pytest.importorskip("torch")
    index = [[0, 1, 2, 0]]
    src = np.arange(4, dtype=np.float32).reshape(1, 4)
    ours, theirs = en.zeros(3, 4), torch.zeros(3, 4)
    ours.scatter_(0, en.tensor(index), en.tensor(src))
    theirs.scatter_(0, torch.tensor(index), torch.tensor(src))
    ours.scatter_add_(1, en.tensor(index), en.tensor(src))
    theirs.scatter_add_(1, torch.tensor(index), torch.tensor(src))
    ours.scatter_(0, en.tensor([[2, 2, 2, 2]]), 7.0, reduce="multiply")
    theirs.scatter_(0, torch.tensor([[2, 2, 2, 2]]), 7.0, reduce="multiply")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours._version == 3


def test_gather_scatter_errors() -> None:
    x = en.zeros(2, 3)
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions"):
        x.gather(0, en.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="out of bounds for dimension 1 with size 3"):
        x.gather(1, en.tensor([[0, 3]]))
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 1 with size 3"):
        x.gather(1, en.tensor([[-1]]))
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        x.gather(1, en.tensor([[0.0]]))
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter(0, en.tensor([[0]]), en.ones(1, 1, dtype=en.float64))


INDEX_SELECT = {
    # PyTorch wants the index on self's device
    "index_select_dim0": lambda a: a.index_select(0, lib_of(a).tensor([2, 0, 2], device=a.device)),
    "index_select_dim1": lambda a: a.index_select(-1, lib_of(a).tensor([3, 1], device=a.device)),
    "index_select_fn": lambda a: lib_of(a).index_select(a, 1, lib_of(a).tensor([0],
                                                                               device=a.device)),
    "masked_select": lambda a: a.masked_select(a > 0),
    "masked_select_broadcast": lambda a: a.masked_select(lib_of(a).tensor([True, False, True,
                                                                           False])),
    "masked_select_fn": lambda a: lib_of(a).masked_select(a, a < 0.5),
}


@pytest.mark.parametrize("name", list(INDEX_SELECT))
def test_index_select_masked_select(name: str, backend: str) -> None:
    check_op([(3, 4)], INDEX_SELECT[name], device=backend)


def test_index_select_needs_a_vector() -> None:
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        en.zeros(3).index_select(0, en.tensor([[0]]))


def test_nonzero_argwhere_and_where_single_argument() -> None:
    torch = pytest.importorskip("torch")
    values = [[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]]
    ours, theirs = en.tensor(values), torch.tensor(values)
    assert ours.nonzero().tolist() == theirs.nonzero().tolist()
    assert ours.nonzero().dtype == en.int64
    assert [t.tolist() for t in en.where(ours != 0)] == [t.tolist() for t in torch.where(
        theirs != 0)]
    assert [t.tolist() for t in ours.nonzero(as_tuple=True)] == [
        t.tolist() for t in theirs.nonzero(as_tuple=True)]
    assert en.argwhere(ours).tolist() == torch.argwhere(theirs).tolist()
    assert en.count_nonzero(ours, dim=0).tolist() == torch.count_nonzero(theirs, dim=0).tolist()
    assert tuple(en.tensor(3.0).nonzero().shape) == tuple(torch.tensor(3.0).nonzero().shape)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin"])
def test_scatter_reduce(reduce: str, include_self: bool) -> None:
    index = np.array([[0, 1, 0, 2], [0, 2, 0, 1]])
    check_op([(3, 4), index, (2, 4)],
             lambda a, i, s: a.scatter_reduce(0, i, s, reduce, include_self=include_self))
    check_op([(2, 5), np.array([[4, 0, 4], [1, 1, 3]]), (2, 3)],
             lambda a, i, s: lib_of(a).scatter_reduce(a, 1, i, s, reduce=reduce,
                                                      include_self=include_self))


def test_scatter_reduce_ties_prod_and_integers() -> None:
    ties = [np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0, 0], [0, 0]]),
            np.array([[1.0, 5.0], [1.0, 5.0]])]
    check_op(ties, lambda a, i, s: a.scatter_reduce(0, i, s, "amax"), gradcheck=False)
    check_op([(3, 4), np.array([[0, 1, 0, 2]]), (1, 4)],
             lambda a, i, s: a.scatter_reduce(0, i, s, "prod"), requires_grad=[False] * 3)
    torch = pytest.importorskip("torch")
    base, idx, src = [5, 1, 2], [0, 0, 2], [4, 7, 3]
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        ours = en.tensor(base).scatter_reduce(0, en.tensor(idx), en.tensor(src), reduce)
        theirs = torch.tensor(base).scatter_reduce(0, torch.tensor(idx), torch.tensor(src), reduce)
        assert ours.tolist() == theirs.tolist(), reduce
    with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean, amax "
                                           "or amin, got max"):
        en.zeros(2).scatter_reduce(0, en.tensor([0]), en.ones(1), "max")


def _scatter_cases(lib: object, dtype: str) -> dict:
    """Scatters CuPy has no kernel for in this dtype (small integers, bool, float16, multiply)."""
    d = getattr(lib, dtype)
    idx = lib.tensor([[0, 2, 0, 0], [1, 1, 2, 1]])
    src = lib.tensor([[3, 2, 2, 1], [2, 3, 1, 2]]).to(d)
    base = lib.tensor([[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]]).to(d)
    flat = lib.tensor([0, 2, 0, 0])
    return {
        "scatter_add_": lambda: base.clone().scatter_add_(0, idx, src),
        "index_add_": lambda: base.clone().index_add_(0, flat[:2], src),
        "index_put_accumulate": lambda: base.clone().index_put_(
            (flat,), lib.ones(4, 4).to(d), accumulate=True),
        "amax": lambda: base.scatter_reduce(0, idx, src, "amax"),
        "amin_exclude_self": lambda: base.scatter_reduce(0, idx, src, "amin", include_self=False),
        "prod": lambda: base.scatter_reduce(0, idx, src, "prod"),
        "prod_exclude_self": lambda: base.scatter_reduce(0, idx, src, "prod", include_self=False),
        "mean": lambda: base.scatter_reduce(0, idx, src, "mean"),
        "scatter_multiply": lambda: base.scatter(0, idx, src, reduce="multiply"),
        "scatter_value_multiply": lambda: base.scatter(0, idx, 2, reduce="multiply"),
    }


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int64", "float16", "float32"])
@pytest.mark.parametrize("case", list(_scatter_cases(en, "int8")))
def test_scatters_in_every_dtype_match_torch(backend: str, case: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    if case == "mean" and dtype == "uint8":
        pytest.skip("torch's integer mean of uint8 is not defined the same way")
    expected = _scatter_cases(torch, dtype)[case]()
    with en.device(backend):
        got = _scatter_cases(en, dtype)[case]()
    assert got.device.type == backend and str(got.dtype)[7:] == str(expected.dtype)[6:]
    np.testing.assert_array_equal(got.cpu().numpy(), expected.numpy())


def test_scatter_add_of_bool_is_logical_or(backend: str) -> None:
    base = en.tensor([False, False, True]).to(backend)
    out = base.index_put_((en.tensor([0, 0, 1]).to(backend),), en.tensor([True, True, False])
                          .to(backend), accumulate=True)
    np.testing.assert_array_equal(out.cpu().numpy(), [True, False, True])


def test_index_ops_on_a_gpu_skip_the_bounds_readback(fake_gpu: object) -> None:
    import engine.nn.functional as F  # noqa: PLC0415

    x = en.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).to("cuda")
    idx = en.tensor([[2, 0], [1, 1]]).to("cuda")
    classes = en.tensor([0, 2, 1]).to("cuda")
    fake_gpu._reset_counters()
    got = [x.gather(1, idx), x.scatter(1, idx, 7.0), x.scatter_add(1, idx, x[:, :2]),
           x.scatter_reduce(1, idx, x[:, :2], "amax"), F.one_hot(classes, 4)]
    assert fake_gpu._counters() == {"h2d": 0, "d2h": 0, "sync": 0}
    np.testing.assert_array_equal(got[0].cpu().numpy(), [[3.0, 1.0], [5.0, 5.0]])
    np.testing.assert_array_equal(got[2].cpu().numpy(), [[3.0, 2.0, 4.0], [4.0, 14.0, 6.0]])
    np.testing.assert_array_equal(got[4].cpu().numpy(), np.eye(4, dtype=np.int64)[[0, 2, 1]])
