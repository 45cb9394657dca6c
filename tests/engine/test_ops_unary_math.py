"""Further elementwise math (log1p, rounding, atan2, lerp, ...) vs PyTorch and float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

# name -> (fn, low, high): domains keep each function finite and away from its poles
UNARY = {
    "log1p": (lambda a: a.log1p(), -0.5, 2.0),
    "expm1": (lambda a: a.expm1(), -2.0, 2.0),
    "log2": (lambda a: a.log2(), 0.2, 3.0),
    "log10": (lambda a: a.log10(), 0.2, 3.0),
    "exp2": (lambda a: a.exp2(), -2.0, 2.0),
    "rsqrt": (lambda a: a.rsqrt(), 0.3, 3.0),
    "reciprocal": (lambda a: a.reciprocal(), 0.3, 3.0),
    "sinh": (lambda a: a.sinh(), -2.0, 2.0),
    "cosh": (lambda a: a.cosh(), -2.0, 2.0),
    "tan": (lambda a: a.tan(), -1.2, 1.2),
    "asin": (lambda a: a.asin(), -0.9, 0.9),
    "acos": (lambda a: a.acos(), -0.9, 0.9),
    "atan": (lambda a: a.atan(), -3.0, 3.0),
    "arctan": (lambda a: a.arctan(), -3.0, 3.0),
    "erf": (lambda a: a.erf(), -3.0, 3.0),
    "frac": (lambda a: a.frac(), -3.0, 3.0),
    "sign": (lambda a: a.sign(), -2.0, 2.0),
    "floor": (lambda a: a.floor(), -3.0, 3.0),
    "ceil": (lambda a: a.ceil(), -3.0, 3.0),
    "trunc": (lambda a: a.trunc(), -3.0, 3.0),
    "round": (lambda a: a.round(), -3.0, 3.0),
    "round_decimals": (lambda a: a.round(decimals=1), -3.0, 3.0),
    "clamp_min": (lambda a: a.clamp_min(0.2), -2.0, 2.0),
    "clamp_max": (lambda a: a.clamp_max(-0.1), -2.0, 2.0),
}


@pytest.mark.parametrize("shape", [(), (5,), (2, 3)], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name: str, shape: tuple, backend: str) -> None:
    fn, low, high = UNARY[name]
    check_op([shape], fn, low=low, high=high, device=backend)


@pytest.mark.parametrize("name", ["log1p", "expm1", "rsqrt", "erf", "sinh", "floor", "sign",
                                  "atan", "round"])
def test_function_forms(name: str) -> None:
    torch = pytest.importorskip("torch")
    fn, low, high = UNARY[name]
    check_op([(3, 4)], getattr(en, name), getattr(torch, name), low=low, high=high,
             layout="transposed")


def test_numpy_references() -> None:
    check_op([(4, 3)], lambda a: a.log1p(), numpy_fn=np.log1p, low=-0.5)
    check_op([(4, 3)], lambda a: a.erf(), numpy_fn=lambda a: np.vectorize(__import__(
        "math").erf)(a), low=-4.0, high=4.0)
    check_op([(4, 3)], lambda a: a.frac(), numpy_fn=lambda a: a - np.trunc(a), low=-3.0,
             high=3.0)


def test_round_half_to_even_and_decimals() -> None:
    torch = pytest.importorskip("torch")
    values = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.25, 1.2345]
    for kwargs in ({}, {"decimals": 2}):
        ours = en.tensor(values).round(**kwargs)
        np.testing.assert_array_equal(ours.numpy(), torch.tensor(values).round(**kwargs).numpy())


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "sign", "abs", "neg"])
def test_integer_inputs_keep_their_dtype(name: str) -> None:
    torch = pytest.importorskip("torch")
    for dtype in ("int64", "int32"):
        values = [-3, 0, 2, 7]
        ours = getattr(en.tensor(values, dtype=getattr(en, dtype)), name)()
        theirs = getattr(torch.tensor(values, dtype=getattr(torch, dtype)), name)()
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("name", ["log1p", "expm1", "rsqrt", "reciprocal", "sinh", "erf",
                                  "log2", "exp2", "atan"])
def test_integer_inputs_compute_in_float32(name: str) -> None:
    torch = pytest.importorskip("torch")
    values = [1, 2, 3]
    ours = getattr(en.tensor(values), name)()
    theirs = getattr(torch.tensor(values), name)()
    assert ours.dtype == en.float32 and theirs.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


BINARY = {
    "atan2": lambda a, b: a.atan2(b),
    "atan2_fn": lambda a, b: lib_of(a).atan2(a, b),
    "hypot": lambda a, b: a.hypot(b),
    "lerp_scalar": lambda a, b: a.lerp(b, 0.3),
    "lerp_fn": lambda a, b: lib_of(a).lerp(a, b, 0.75),
    "xlogy": lambda a, b: a.xlogy(b),
}


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (2, 3))], ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name: str, shapes: tuple, backend: str) -> None:
    check_op(shapes, BINARY[name], low=0.3, high=2.0, device=backend)


def test_lerp_with_tensor_weight_and_addcmul_addcdiv() -> None:
    check_op([(3, 4), (3, 4), (3, 4)], lambda a, b, w: a.lerp(b, w))
    check_op([(3, 4), (3, 1), (4,)], lambda a, b, c: a.addcmul(b, c, value=0.5))
    check_op([(3, 4), (3, 4), (4,)], lambda a, b, c: a.addcdiv(b, c, value=-2.0), low=0.5)
    check_op([(3, 4), (3, 4), (3, 4)], lambda a, b, c: lib_of(a).addcmul(a, b, c))


def test_atan2_quadrants_and_integer_promotion() -> None:
    torch = pytest.importorskip("torch")
    y, x = [1.0, 1.0, -1.0, -1.0, 0.0], [1.0, -1.0, -1.0, 1.0, -1.0]
    np.testing.assert_allclose(en.tensor(y).atan2(en.tensor(x)).numpy(),
                               torch.tensor(y).atan2(torch.tensor(x)).numpy(), rtol=1e-6)
    ours = en.tensor([1, 2]).atan2(en.tensor([3, 4]))
    assert ours.dtype == en.float32
    assert torch.tensor([1]).atan2(torch.tensor([3])).dtype == torch.float32


def test_relu_of_negative_is_positive_zero() -> None:
    torch = pytest.importorskip("torch")
    x = [-1.0, -1e-30, -np.inf, 2.0]
    ours = en.tensor(x).relu()
    assert not np.signbit(ours.numpy()).any()
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal((1 / ours).numpy(), (1 / torch.tensor(x).relu()).numpy())
    np.testing.assert_array_equal(en.nn.functional.relu(en.tensor(x)).numpy(),
                                  torch.relu(torch.tensor(x)).numpy())
    assert np.isnan(en.tensor([np.nan]).relu().item())
    assert en.tensor([-3, 4]).relu().tolist() == [0, 4]
