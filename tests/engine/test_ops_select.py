"""Order statistics, unique/bincount/searchsorted, index_add/fill/copy, unfold, dim moves, erfinv,
logaddexp and the stacking / distance function forms vs PyTorch and float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

# random inputs have no ties, so torch's and our indices agree
ORDER = {
    "kthvalue": lambda a: a.kthvalue(2),
    "kthvalue_dim0_keepdim": lambda a: a.kthvalue(3, 0, keepdim=True),
    "median_all": lambda a: a.median(),
    "median_dim": lambda a: lib_of(a).median(a, 1),
    "median_keepdim": lambda a: a.median(-2, keepdim=True),
    "mode": lambda a: a.mode(),
    "mode_dim0_keepdim": lambda a: a.mode(0, True),
}


@pytest.mark.parametrize("name", list(ORDER))
def test_order_statistics(name: str, backend: str) -> None:
    check_op([(4, 5)], ORDER[name], device=backend)


def test_mode_with_repeats_takes_the_smallest_most_frequent_and_its_last_index() -> None:
    torch = pytest.importorskip("torch")
    values = [[3.0, 1.0, 2.0, 2.0, 3.0, 0.0], [0.0, 5.0, 5.0, 1.0, 7.0, 7.0]]
    ours, theirs = en.tensor(values).mode(1), torch.tensor(values).mode(1)
    assert ours.values.tolist() == theirs.values.tolist()
    assert ours.indices.tolist() == theirs.indices.tolist()
    assert repr(ours).startswith("engine.return_types.mode(")
    assert en.tensor([1, 4, 4]).mode().values.item() == 4


def test_kthvalue_range_error() -> None:
    with pytest.raises(RuntimeError, match="kthvalue\\(\\): selected number k out of range"):
        en.zeros(3).kthvalue(4)


def test_unique_bincount_searchsorted_bucketize() -> None:
    torch = pytest.importorskip("torch")
    data = [[3, 1], [3, 2]]
    ours = en.unique(en.tensor(data), return_inverse=True, return_counts=True)
    theirs = torch.unique(torch.tensor(data), return_inverse=True, return_counts=True)
    assert [t.tolist() for t in ours] == [t.tolist() for t in theirs]
    assert en.tensor([2.0, 1.0, 2.0]).unique().tolist() == [1.0, 2.0]
    counts = [0, 3, 3, 1]
    assert en.bincount(en.tensor(counts), minlength=6).tolist() == torch.bincount(
        torch.tensor(counts), minlength=6).tolist()
    weighted = en.tensor(counts).bincount(en.tensor([0.5, 1.0, 2.0, 0.25]))
    assert weighted.dtype == en.float32 and weighted.tolist() == [0.5, 0.25, 0.0, 3.0]
    seq, vals = [1, 3, 5], [0, 3, 6]
    for right in (False, True):
        assert en.searchsorted(en.tensor(seq), en.tensor(vals), right=right).tolist() == \
            torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right).tolist()
        assert en.bucketize(en.tensor(vals), en.tensor(seq), right=right).tolist() == \
            torch.bucketize(torch.tensor(vals), torch.tensor(seq), right=right).tolist()
    rows, queries = [[1, 3, 5], [0, 2, 4]], [[2, 5], [4, 0]]
    assert en.tensor(rows).searchsorted(en.tensor(queries)).tolist() == torch.searchsorted(
        torch.tensor(rows), torch.tensor(queries)).tolist()


INDEX = np.array([2, 0, 2])

INDEX_OPS = {
    "index_add": ([(4, 3), INDEX, (3, 3)], lambda a, i, s: a.index_add(0, i, s)),
    "index_add_alpha_dim1": ([(3, 4), INDEX, (3, 3)],
                             lambda a, i, s: a.index_add(1, i, s, alpha=0.5)),
    "index_add_fn": ([(4, 3), INDEX, (3, 3)], lambda a, i, s: lib_of(a).index_add(a, 0, i, s)),
    "index_copy": ([(4, 3), np.array([3, 1]), (2, 3)], lambda a, i, s: a.index_copy(0, i, s)),
    "index_fill": ([(4, 3), INDEX], lambda a, i: a.index_fill(1, i, -1.5)),
}


@pytest.mark.parametrize("name", list(INDEX_OPS))
def test_index_ops(name: str, backend: str) -> None:
    inputs, fn = INDEX_OPS[name]
    check_op(inputs, fn, device=backend)


def test_index_ops_in_place() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = en.zeros(4, 2), torch.zeros(4, 2)
    for x, lib in ((ours, en), (theirs, torch)):
        x.index_add_(0, lib.tensor([1, 1, 3]), lib.ones(3, 2))
        x.index_fill_(1, lib.tensor([0]), 9.0)
        x.index_copy_(0, lib.tensor([2]), lib.full((1, 2), 4.0))
    assert ours.tolist() == theirs.tolist() and ours._version == 3
    with pytest.raises(RuntimeError, match=r"Number of indices \(1\) should be equal to "
                                           r"source.size\(dim\): \(2\), for dim: 0"):
        en.zeros(3).index_add_(0, en.tensor([0]), en.ones(2))


SHAPES = {
    "unfold": ((10,), lambda a: a.unfold(0, 3, 2)),
    "unfold_overlap_2d": ((3, 6), lambda a: a.unfold(1, 4, 1)),
    "unfold_dim0": ((5, 2), lambda a: a.unfold(0, 2, 3)),
    "movedim": ((2, 3, 4), lambda a: a.movedim(0, -1)),
    "movedim_many": ((2, 3, 4, 5), lambda a: lib_of(a).movedim(a, (0, 1), (2, 0))),
    "moveaxis": ((2, 3, 4), lambda a: lib_of(a).moveaxis(a, -1, 0)),
    "swapaxes": ((2, 3, 4), lambda a: a.swapaxes(0, 2)),
    "swapdims": ((2, 3, 4), lambda a: lib_of(a).swapdims(a, 1, -1)),
    "rot90": ((3, 4), lambda a: a.rot90()),
    "rot90_k2": ((3, 4), lambda a: lib_of(a).rot90(a, 2)),
    "rot90_k3_dims": ((2, 3, 4), lambda a: a.rot90(3, [1, 2])),
    "rot90_neg": ((3, 4), lambda a: a.rot90(-1)),
    "trace": ((3, 4), lambda a: a.trace()),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_windows_and_moves(name: str, backend: str) -> None:
    shape, fn = SHAPES[name]
    check_op([shape], fn, device=backend)


def test_unfold_errors() -> None:
    with pytest.raises(RuntimeError, match="maximum size for tensor at dimension 0 is 3 but size "
                                           "is 4"):
        en.zeros(3).unfold(0, 4, 1)


def test_erfinv_and_logaddexp() -> None:
    check_op([(3, 4)], lambda a: a.erfinv(), low=-0.99, high=0.99)
    check_op([(3, 4)], lambda a: lib_of(a).erfinv(a), low=-0.5, high=0.5, layout="strided")
    torch = pytest.importorskip("torch")
    edges = [-1.0, 1.0, 0.0, 0.999999, -0.9999999]
    np.testing.assert_allclose(en.tensor(edges, dtype=en.float64).erfinv().numpy(),
                               torch.tensor(edges, dtype=torch.float64).erfinv().numpy(),
                               rtol=1e-10)
    x = en.tensor(np.linspace(-0.999, 0.999, 41))
    np.testing.assert_allclose(x.erfinv().erf().numpy(), x.numpy(), atol=1e-6)
    check_op([(3, 4), (4,)], lambda a, b: a.logaddexp(b))
    check_op([(3, 4), (3, 4)], lambda a, b: lib_of(a).logaddexp(a * 40, b * 40))


STACKS = {
    "hstack": ([(2, 3), (2, 1)], lambda a, b: lib_of(a).hstack([a, b])),
    "hstack_1d": ([(3,), (2,)], lambda a, b: lib_of(a).hstack((a, b))),
    "vstack": ([(3,), (3,)], lambda a, b: lib_of(a).vstack([a, b])),
    "row_stack": ([(2, 3), (3,)], lambda a, b: lib_of(a).vstack([a, b])),
    "dstack": ([(2, 3), (2, 3)], lambda a, b: lib_of(a).dstack([a, b])),
    "column_stack": ([(3,), (3, 2)], lambda a, b: lib_of(a).column_stack([a, b])),
    "atleast_2d": ([(3,), ()], lambda a, b: lib_of(a).atleast_2d(a, b)),
    "atleast_3d": ([(3, 2), (3,)], lambda a, b: lib_of(a).atleast_3d((a, b))),
    "cdist": ([(4, 3), (5, 3)], lambda a, b: lib_of(a).cdist(a, b)),
    "cdist_p1_batched": ([(2, 4, 3), (2, 5, 3)], lambda a, b: lib_of(a).cdist(a, b, p=1.0)),
    "var_mean": ([(3, 4), (1,)], lambda a, b: lib_of(a).var_mean(a, 1)),
    "std_mean": ([(3, 4), (1,)], lambda a, b: lib_of(a).std_mean(a, dim=0, keepdim=True)),
}


@pytest.mark.parametrize("name", list(STACKS))
def test_stacks_distances_moments(name: str) -> None:
    inputs, fn = STACKS[name]
    check_op(inputs, fn)


def test_atleast_1d_single_and_cdist_error() -> None:
    assert en.atleast_1d(en.tensor(2.0)).shape == (1,)
    with pytest.raises(RuntimeError, match="X1 and X2 must have the same number of columns"):
        en.cdist(en.zeros(2, 3), en.zeros(2, 4))


def test_index_put_with_and_without_accumulate() -> None:
    rows = np.array([0, 0, 2])
    check_op([(3, 4), (3, 4), rows],
             lambda a, v, i: a.index_put((i,), v, accumulate=True))
    check_op([(3, 4), (4,), np.array([0, 2])], lambda a, v, i: a.index_put((i,), v))
    check_op([(3, 4), (2,), np.array([0, 2]), np.array([1, 3])],
             lambda a, v, i, j: lib_of(a).index_put(a, (i, j), v, accumulate=True))
    torch = pytest.importorskip("torch")
    ours, theirs = en.zeros(3), torch.zeros(3)
    ours.index_put_((en.tensor([1, 1]),), en.tensor(2.0), accumulate=True)
    theirs.index_put_((torch.tensor([1, 1]),), torch.tensor(2.0), accumulate=True)
    assert ours.tolist() == theirs.tolist() and ours._version == 1


def test_bitwise_ops_strides_and_sizes() -> None:
    torch = pytest.importorskip("torch")
    a, b = [1, 2, 6], [3, 3, 5]
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        assert getattr(en, name)(en.tensor(a), en.tensor(b)).tolist() == getattr(torch, name)(
            torch.tensor(a), torch.tensor(b)).tolist()
    assert (en.tensor(a) ^ en.tensor(b)).tolist() == (torch.tensor(a) ^ torch.tensor(b)).tolist()
    assert (en.tensor([True, False]) ^ True).tolist() == [False, True]
    assert (True & en.tensor([True, False])).tolist() == [True, False]
    assert en.tensor(a).bitwise_not().tolist() == torch.tensor(a).bitwise_not().tolist()
    assert en.zeros(3, 4).t().stride() == torch.zeros(3, 4).t().stride() == (1, 4)
    assert en.zeros(3, 4).stride(-2) == 4
    assert en.zeros(2).element_size() == 4 and en.zeros(2, dtype=en.int64).nbytes == 16
    assert en.zeros(2, dtype=en.float16).itemsize == 2
