"""Norms (Tensor.norm, engine.norm, engine.linalg), mm/bmm/addmm and out= function forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

NORMS = {
    "fro": lambda a: a.norm(),
    "p2_dim": lambda a: a.norm(2, dim=1),
    "p1_keepdim": lambda a: a.norm(p=1, dim=0, keepdim=True),
    "p3": lambda a: a.norm(3),
    "p_half": lambda a: a.norm(0.5, dim=-1),
    "inf": lambda a: a.norm(math.inf, dim=1),
    "neg_inf": lambda a: a.norm(-math.inf),
    "fro_dims": lambda a: a.norm("fro", dim=(0, 1)),
    "fn": lambda a: lib_of(a).norm(a, dim=-1),
    "vector_norm": lambda a: lib_of(a).linalg.vector_norm(a, 3, dim=(0,)),
    "linalg_vector": lambda a: lib_of(a).linalg.norm(a, dim=1),
    "linalg_fro": lambda a: lib_of(a).linalg.norm(a),
    "matrix_1": lambda a: lib_of(a).linalg.norm(a, 1),
    "matrix_inf": lambda a: lib_of(a).linalg.matrix_norm(a, -math.inf),
    "matrix_fro": lambda a: lib_of(a).linalg.matrix_norm(a, keepdim=True),
}


@pytest.mark.parametrize("name", list(NORMS))
def test_norms(name: str, backend: str) -> None:
    low = 0.2 if name == "p_half" else -2.0
    check_op([(3, 4)], NORMS[name], low=low, device=backend)


def test_norm_numpy_reference_and_zero_order() -> None:
    check_op([(3, 4)], lambda a: a.norm(), numpy_fn=np.linalg.norm)
    check_op([(5,)], lambda a: a.norm(3), numpy_fn=lambda a: np.linalg.norm(a, 3))
    x = en.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]])
    assert x.norm(0).item() == 2.0 and x.norm(0, dim=1).tolist() == [1.0, 1.0]


def test_norm_of_zeros_has_zero_gradient() -> None:
    torch = pytest.importorskip("torch")
    for p in (2, 3, "fro"):
        ours, theirs = en.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
        ours.norm(p).backward()
        theirs.norm(p).backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_norm_dtype_rules() -> None:
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as "
                                           "input. Got Long"):
        en.tensor([1, 2]).norm()
    assert en.tensor([3, 4]).norm(dtype=en.float64).dtype == en.float64
    assert en.ones(2, dtype=en.float64).norm().dtype == en.float64


MATMULS = {
    "mm": ([(3, 4), (4, 2)], lambda a, b: a.mm(b)),
    "mm_fn": ([(3, 4), (4, 2)], lambda a, b: lib_of(a).mm(a, b)),
    "bmm": ([(2, 3, 4), (2, 4, 5)], lambda a, b: a.bmm(b)),
    "bmm_fn": ([(2, 3, 4), (2, 4, 5)], lambda a, b: lib_of(a).bmm(a, b)),
    "mv": ([(3, 4), (4,)], lambda a, b: a.mv(b)),
    "dot": ([(4,), (4,)], lambda a, b: lib_of(a).dot(a, b)),
    "outer": ([(3,), (4,)], lambda a, b: lib_of(a).outer(a, b)),
    "matmul_fn": ([(2, 3, 4), (4,)], lambda a, b: lib_of(a).matmul(a, b)),
    "dist": ([(3, 4), (3, 4)], lambda a, b: lib_of(a).dist(a, b, 3)),
}


@pytest.mark.parametrize("name", list(MATMULS))
def test_matmuls(name: str, backend: str) -> None:
    inputs, fn = MATMULS[name]
    check_op(inputs, fn, device=backend)


def test_addmm() -> None:
    check_op([(3, 2), (3, 4), (4, 2)], lambda c, a, b: lib_of(a).addmm(c, a, b))
    check_op([(2,), (3, 4), (4, 2)], lambda c, a, b: c.addmm(a, b, beta=0.5, alpha=-2.0))
    check_op([(3, 2), (3, 4), (4, 2)], lambda c, a, b: lib_of(a).addmm(c, a, b, beta=0))


def test_mm_bmm_errors() -> None:
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        en.ones(2).mm(en.ones(2, 2))
    with pytest.raises(RuntimeError, match="mat2 must be a matrix"):
        en.mm(en.ones(2, 2), en.ones(2))
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        en.mm(en.ones(2, 3), en.ones(2, 2))
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        en.bmm(en.ones(2, 2), en.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match=r"Expected size for first two dimensions of batch2 "
                                           r"tensor to be: \[2, 3\] but got: \[3, 3\]."):
        en.bmm(en.ones(2, 2, 3), en.ones(3, 3, 2))


OUT_FORMS = {
    "add": lambda lib, a, b, **kw: lib.add(a, b, alpha=2, **kw),
    "sub": lambda lib, a, b, **kw: lib.sub(a, b, **kw),
    "mul": lambda lib, a, b, **kw: lib.mul(a, b, **kw),
    "div": lambda lib, a, b, **kw: lib.div(a, b, **kw),
    "div_floor": lambda lib, a, b, **kw: lib.div(a, b, rounding_mode="floor", **kw),
    "div_trunc": lambda lib, a, b, **kw: lib.div(a, b, rounding_mode="trunc", **kw),
    "matmul": lambda lib, a, b, **kw: lib.matmul(a, b.t(), **kw),
    "mm": lambda lib, a, b, **kw: lib.mm(a, b.t(), **kw),
    "addmm": lambda lib, a, b, **kw: lib.addmm(a[:, :3], a, b.t(), beta=2, **kw),
    "bmm": lambda lib, a, b, **kw: lib.bmm(a[None], b.t()[None], **kw),
    "norm": lambda lib, a, b, **kw: lib.norm(a, 2, 1, **kw),
}


@pytest.mark.parametrize("name", list(OUT_FORMS))
def test_out_writes_into_the_given_tensor(name: str) -> None:
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(0).uniform(0.5, 2.0, (2, 3, 3))
    ours_in = [en.tensor(v, dtype=en.float32) for v in values]
    theirs_in = [torch.tensor(v, dtype=torch.float32) for v in values]
    expected = OUT_FORMS[name](torch, *theirs_in)
    out = en.empty(*expected.shape)
    result = OUT_FORMS[name](en, *ours_in, out=out)
    assert result is out and out._version == 1
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)
    plain = OUT_FORMS[name](en, *ours_in)
    np.testing.assert_allclose(plain.numpy(), expected.numpy(), rtol=1e-6)


def test_out_resizes_casts_and_refuses_grad() -> None:
    a = en.ones(2)
    out = en.zeros(3)
    with pytest.warns(UserWarning, match="An output with one or more elements was resized"):
        en.mul(a, 2, out=out)
    assert out.tolist() == [2.0, 2.0]
    empty = en.empty(0)
    assert en.add(a, a, out=empty) is empty and empty.tolist() == [2.0, 2.0]
    wide = en.zeros(2, dtype=en.float64)
    en.add(a, 1, out=wide)
    assert wide.dtype == en.float64 and wide.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        en.add(a, a, out=en.zeros(2, dtype=en.int64))
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype float, but got "
                                           "long int instead"):
        en.mm(en.ones(2, 2), en.ones(2, 2), out=en.zeros(2, 2, dtype=en.int64))
    with pytest.raises(RuntimeError, match=r"add\(\): functions with out=... arguments don't "
                                           "support automatic differentiation"):
        en.add(en.ones(2, requires_grad=True), a, out=en.zeros(2))
    with en.no_grad():
        en.add(en.ones(2, requires_grad=True), a, out=out)


def test_div_rounding_modes_follow_torch() -> None:
    torch = pytest.importorskip("torch")
    for values in ([-7, 7, -3, 8], [-7.5, 7.5, -3.0, 8.25]):
        for mode in ("floor", "trunc"):
            ours = en.tensor(values).div(2, rounding_mode=mode)
            theirs = torch.tensor(values).div(2, rounding_mode=mode)
            assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
            assert ours.tolist() == theirs.tolist()
    with pytest.raises(ValueError, match="div expected rounding_mode to be one of None"):
        en.ones(1).div(2, rounding_mode="round")
