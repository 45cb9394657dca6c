"""Elementwise ops: forward values and every input gradient vs PyTorch and float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, lib_of

import engine as en

# Pairs of shapes: equal, broadcasting both ways, size-1 dims, 0-d against n-d.
BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((), ()),
]
UNARY_SHAPES = [(), (1,), (5,), (2, 3), (2, 1, 3)]
LAYOUTS = ["strided", "transposed"]

BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "add_alpha": lambda a, b: a.add(b, alpha=0.5),
    "sub_alpha": lambda a, b: a.sub(b, alpha=2.0),
    "maximum": lambda a, b: a.maximum(b),
    "minimum": lambda a, b: a.minimum(b),
}


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY_OPS))
def test_binary(name: str, shapes: tuple, backend: str) -> None:
    low = 0.5 if name == "div" else -2.0  # keep divisors away from 0
    check_op(shapes, BINARY_OPS[name], low=low, device=backend)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["add", "mul", "div", "maximum"])
def test_binary_non_contiguous(name: str, layout: str) -> None:
    check_op([(3, 4), (3, 4)], BINARY_OPS[name], low=0.5, layout=layout)


def test_binary_only_one_input_requires_grad() -> None:
    check_op([(3, 4), (4,)], lambda a, b: a * b, requires_grad=[False, True])
    check_op([(3, 4), (4,)], lambda a, b: a / b, low=0.5, requires_grad=[True, False])


def test_same_tensor_twice() -> None:
    """x * x: both input slots feed one leaf, whose gradient must be the sum (2x)."""
    check_op([(3, 2)], lambda a: a * a)
    check_op([(3, 2)], lambda a: a + a - a / (a * a + 1))


@pytest.mark.parametrize("scalar", [2, 0.5, -1.5])
def test_scalar_operands(scalar: float) -> None:
    check_op([(2, 3)], lambda a: scalar + a * scalar - scalar / (a * a + 1) - a / scalar)
    check_op([(2, 3)], lambda a: scalar - a)


def test_maximum_minimum_ties_split_gradient() -> None:
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 0.0])
    check_op([a, b], lambda x, y: x.maximum(y), gradcheck=False)
    check_op([a, b], lambda x, y: x.minimum(y), gradcheck=False)
    check_op([a, b], lambda x, y: lib_of(x).maximum(x, y), gradcheck=False)


@pytest.mark.parametrize("exponent", [2, 3, 0, 1, -1, 0.5, 2.5, -1.5])
def test_pow_tensor_scalar(exponent: float, backend: str) -> None:
    low = 0.5 if exponent != int(exponent) or exponent < 0 else -2.0
    check_op([(3, 4)], lambda a: a**exponent, low=low, device=backend)


def test_pow_tensor_tensor() -> None:
    for shapes in [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (2, 2)), ((2, 1), ())]:
        check_op(shapes, lambda a, b: a**b, low=0.5)
    check_op([(3, 4), (3, 4)], lambda a, b: a.pow(b), low=0.5, layout="transposed")


def test_pow_scalar_tensor() -> None:
    check_op([(3, 4)], lambda a: 2.0**a)
    check_op([(3, 4)], lambda a: 0.5**a)
    check_op([()], lambda a: 3**a)


def test_pow_at_zero_base_matches_torch() -> None:
    check_op([np.array([0.0, 1.0, 2.0]), np.array([2.0, 0.0, 1.5])], lambda a, b: a**b,
             gradcheck=False)
    check_op([np.array([0.0, 1.0, -2.0])], lambda a: a**2)
    check_op([np.array([0.0, 1.0, 2.0])], lambda a: a**0)


UNARY = {
    "neg": (lambda a: -a, -2.0),
    "exp": (lambda a: a.exp(), -2.0),
    "log": (lambda a: a.log(), 0.2),
    "sqrt": (lambda a: a.sqrt(), 0.2),
    "abs": (lambda a: a.abs(), -2.0),
    "sin": (lambda a: a.sin(), -2.0),
    "cos": (lambda a: a.cos(), -2.0),
    "tanh": (lambda a: a.tanh(), -2.0),
    "sigmoid": (lambda a: a.sigmoid(), -2.0),
    "relu": (lambda a: a.relu(), -2.0),
    "square": (lambda a: a.square(), -2.0),
    "clamp_both": (lambda a: a.clamp(-0.5, 0.7), -2.0),
    "clamp_min": (lambda a: a.clamp(min=0.1), -2.0),
    "clamp_max": (lambda a: a.clamp(max=-0.3), -2.0),
    "clip": (lambda a: a.clip(-1, 1), -2.0),
}


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name: str, shape: tuple, backend: str) -> None:
    fn, low = UNARY[name]
    check_op([shape], fn, low=low, device=backend)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["exp", "log", "relu", "abs", "tanh", "clamp_both"])
def test_unary_non_contiguous(name: str, layout: str) -> None:
    fn, low = UNARY[name]
    check_op([(3, 4)], fn, low=low, layout=layout)


def test_unary_function_forms() -> None:
    torch = pytest.importorskip("torch")
    for name in ["exp", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sqrt", "log"]:
        check_op([(2, 3)], getattr(en, name), getattr(torch, name), low=0.2)


def test_sigmoid_and_tanh_saturate_without_overflow() -> None:
    x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0])
    check_op([x], lambda a: a.sigmoid(), gradcheck=False)
    check_op([x], lambda a: a.tanh(), gradcheck=False)


def test_relu_gradient_at_zero_is_zero() -> None:
    check_op([np.array([-1.0, 0.0, 2.0])], lambda a: a.relu(), gradcheck=False)


def test_clamp_with_bounds_on_edges() -> None:
    # torch passes the gradient at the bound itself (min <= x <= max)
    check_op([np.array([-1.0, -0.5, 0.0, 0.7, 1.0])], lambda a: a.clamp(-0.5, 0.7),
             gradcheck=False)


WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ()), ((2, 1, 3), (1, 3), (2, 4, 1))]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where(shapes: tuple, backend: str) -> None:
    cond_shape, a_shape, b_shape = shapes
    cond = np.random.default_rng(3).random(cond_shape) > 0.5

    def fn(c, a, b):
        return lib_of(a).where(c, a, b)

    check_op([cond, a_shape, b_shape], fn, device=backend)


def test_where_with_scalar_and_masked_fill() -> None:
    cond = np.array([[True, False], [False, True]])

    def where_scalar(c, a):
        return lib_of(a).where(c, a, 0.0)

    check_op([cond, (2, 2)], where_scalar)
    check_op([cond, (2, 2)], lambda c, a: a.masked_fill(c, -1.5))


def test_cast_gradient_flows_back_in_source_dtype() -> None:
    # a float32 round trip defeats float64 central differences: gradcheck is off here
    check_op([(2, 3)], lambda a: (a.double() * 2).float(), gradcheck=False)
    check_op([(2, 3)], lambda a: a.to(en.float64).sin().to(en.float32)
             if isinstance(a, en.Tensor) else a.double().sin().float(), gradcheck=False)
    x = en.ones(2, requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == en.float32 and x.grad.tolist() == [3.0, 3.0]


def test_where_with_two_scalars_follows_torch() -> None:
    cond = en.tensor([True, False, True])
    assert en.where(cond, 1.0, 0.0).tolist() == [1.0, 0.0, 1.0]
    assert en.where(cond, 1.0, 0.0).dtype == en.float32
    assert en.where(cond, 2, 0).dtype == en.int64
    assert en.where(cond, 1, 0.5).tolist() == [1.0, 0.5, 1.0]


def test_clamp_with_tensor_bounds_and_int_promotion() -> None:
    check_op([(3, 4), (4,), (3, 1)], lambda a, lo, hi: a.clamp(lo - 1, hi + 1))
    check_op([(3, 4), ()], lambda a, lo: a.clamp(min=lo))
    ints = en.tensor([1, 5, -3])
    assert ints.clamp(0, 2).dtype == en.int64 and ints.clamp(0, 2).tolist() == [1, 2, 0]
    assert ints.clamp(0.5, 2).dtype == en.float32 and ints.clamp(0.5).tolist() == [1.0, 5.0, 0.5]


def test_floor_divide_and_remainder() -> None:
    check_op([(3, 4), (3, 4)], lambda a, b: a % (b.abs() + 0.5), gradcheck=False)
    check_op([(3, 4)], lambda a: a % -1.5, gradcheck=False)
    assert (en.tensor([5, -7]) // 2).tolist() == [2, -4]
    assert (7 // en.tensor([5, -2])).tolist() == [1, -4]
    assert (7 % en.tensor([5, -2])).tolist() == [2, -1]
    assert (en.tensor([True, False]) ** 2).dtype == en.int64
