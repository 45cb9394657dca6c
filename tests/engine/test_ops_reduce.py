"""Reductions and softmax: int/tuple/negative dims, keepdim, 0-d, ties; vs PyTorch + gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

# (shape, dim) cases: None = all dims; ints, negative ints, tuples; size-1 dims; 0-d.
DIM_CASES = [
    ((3, 4), None),
    ((3, 4), 0),
    ((3, 4), -1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), (-1, 1)),
    ((2, 1, 3), 1),
    ((5,), 0),
    ((), None),
    ((), 0),
]


def _call(method: str, dim, keepdim: bool, **kw):
    if dim is None:
        return lambda a: getattr(a, method)(**kw)
    return lambda a: getattr(a, method)(dim=dim, keepdim=keepdim, **kw)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("case", DIM_CASES, ids=str)
@pytest.mark.parametrize("method", ["sum", "mean", "amax", "amin", "logsumexp"])
def test_reduction(method: str, case: tuple, keepdim: bool, backend: str) -> None:
    shape, dim = case
    if method == "logsumexp" and dim is None:
        dim = tuple(range(len(shape))) if shape else 0  # torch requires dim for logsumexp
    numpy_fn = {"sum": np.sum, "mean": np.mean, "amax": np.amax, "amin": np.amin}.get(method)
    ref = None
    if numpy_fn is not None:
        def ref(a):
            return numpy_fn(a, axis=dim if dim != 0 or a.ndim else None,
                            keepdims=keepdim and dim is not None)
    check_op([shape], _call(method, dim, keepdim), numpy_fn=ref, device=backend)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("case", DIM_CASES, ids=str)
@pytest.mark.parametrize("method", ["var", "std"])
def test_var_std(method: str, case: tuple, keepdim: bool) -> None:
    shape, dim = case
    n = int(np.prod(shape)) if dim is None else int(np.prod(
        [shape[d] for d in ((dim,) if isinstance(dim, int) else dim)] if shape else [1]))
    if n < 2:
        pytest.skip("unbiased variance of one element is nan (torch agrees)")
    check_op([shape], _call(method, dim, keepdim))
    check_op([shape], _call(method, dim, keepdim, unbiased=False))
    check_op([shape], _call(method, dim, keepdim, correction=0))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, -1, 1])
def test_max_min_with_dim_returns_values_and_indices(dim: int, keepdim: bool) -> None:
    for method in ("max", "min"):
        outs = check_op([(3, 4)], lambda a, m=method: getattr(a, m)(dim=dim, keepdim=keepdim))
        assert outs[1].dtype == en.int64
    values, indices = en.tensor([[1.0, 5.0], [7.0, 2.0]]).max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]


def test_max_min_full_reduction_and_ties() -> None:
    check_op([(3, 4)], lambda a: a.max())
    check_op([(3, 4)], lambda a: a.min())
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    # amax/amin split the gradient evenly between ties, as torch does
    check_op([ties], lambda a: a.amax(dim=1), gradcheck=False)
    check_op([ties], lambda a: a.amin(dim=(0, 1)), gradcheck=False)
    check_op([ties], lambda a: a.max(), gradcheck=False)


def test_max_with_tensor_is_elementwise() -> None:
    check_op([(3, 4), (4,)], lambda a, b: a.max(b))
    check_op([(3, 4), (4,)], lambda a, b: a.min(b))


def test_non_contiguous_reductions() -> None:
    for layout in ("strided", "transposed"):
        check_op([(3, 4)], lambda a: a.sum(dim=0), layout=layout)
        check_op([(3, 4)], lambda a: a.var(dim=1, keepdim=True), layout=layout)
        check_op([(3, 4)], lambda a: a.logsumexp(dim=-1), layout=layout)
        check_op([(3, 4)], lambda a: a.max(dim=0), layout=layout)


def test_logsumexp_large_values_is_stable() -> None:
    big = np.array([[1000.0, 1000.0, -1000.0], [-50.0, 80.0, 3.0]])
    outs = check_op([big], lambda a: a.logsumexp(dim=1), gradcheck=False)
    assert np.isfinite(outs[0].detach().numpy()).all()


def test_integer_reductions_follow_torch() -> None:
    torch = pytest.importorskip("torch")
    ints = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    for fn in (lambda a: a.sum(), lambda a: a.sum(dim=0), lambda a: a.amax(dim=1)):
        ours, theirs = fn(en.tensor(ints)), fn(torch.tensor(ints))
        assert ours.dtype.name == str(theirs.dtype)[6:]
        assert ours.tolist() == theirs.tolist()
    bools = en.tensor([True, False, True])
    assert bools.sum().item() == 2 and bools.sum().dtype == en.int64
    with pytest.raises(RuntimeError, match="mean"):
        en.tensor([1, 2]).mean()


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin(dim, keepdim: bool) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    for name in ("argmax", "argmin"):
        ours = getattr(en.tensor(x, requires_grad=True), name)(dim=dim, keepdim=keepdim)
        theirs = getattr(torch.tensor(x), name)(dim=dim, keepdim=keepdim)
        assert ours.dtype == en.int64 and not ours.requires_grad and ours.grad_fn is None
        assert ours.shape == tuple(theirs.shape) and ours.tolist() == theirs.tolist()
    assert en.argmax(en.tensor([[1.0, 9.0], [3.0, 2.0]])).item() == 1


@pytest.mark.parametrize("shape, dim", [((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1),
                                        ((2, 3, 4), 1), ((4,), 0), ((), 0)], ids=str)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_family(fn: str, shape: tuple, dim: int, backend: str) -> None:
    def op(a):
        return getattr(lib_of(a).nn.functional, fn)(a, dim=dim)

    check_op([shape], op, device=backend)
    check_op([shape], lambda a: getattr(a, fn)(dim), device=backend)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_large_values_are_stable(fn: str) -> None:
    big = np.array([[1000.0, 999.0, -1000.0], [1e4, 1e4, 1e4], [-1e4, 0.0, 1e4]])

    def op(a):
        return getattr(lib_of(a).nn.functional, fn)(a, dim=1)

    outs = check_op([big], op, gradcheck=False)
    assert np.isfinite(outs[0].detach().numpy()).all()
    check_op([(2, 3)], op, layout="transposed")
