"""In-place variants (sqrt_, addcmul_, random fills, ...) and factories (eye, *_like, clone)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op

import engine as en

# in-place name -> (arguments, low): the input range keeps each op finite
INPLACE = {
    "sqrt_": ((), 0.2), "exp_": ((), -2.0), "log_": ((), 0.2), "abs_": ((), -2.0),
    "neg_": ((), -2.0), "relu_": ((), -2.0), "sigmoid_": ((), -2.0), "tanh_": ((), -2.0),
    "sin_": ((), -2.0), "cos_": ((), -2.0), "square_": ((), -2.0), "pow_": ((3,), -2.0),
    "log1p_": ((), -0.5), "expm1_": ((), -2.0), "log2_": ((), 0.2), "log10_": ((), 0.2),
    "exp2_": ((), -2.0), "rsqrt_": ((), 0.2), "reciprocal_": ((), 0.2), "sinh_": ((), -2.0),
    "cosh_": ((), -2.0), "tan_": ((), -1.0), "asin_": ((), -0.9), "acos_": ((), -0.9),
    "atan_": ((), -2.0), "erf_": ((), -2.0), "frac_": ((), -2.0), "sign_": ((), -2.0),
    "floor_": ((), -2.0), "ceil_": ((), -2.0), "trunc_": ((), -2.0), "round_": ((), -2.0),
    "clamp_": ((-0.5, 0.5), -2.0), "clamp_min_": ((0.1,), -2.0), "clamp_max_": ((0.1,), -2.0),
    "tril_": ((), -2.0), "triu_": ((1,), -2.0),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_matches_out_of_place_through_autograd(name: str) -> None:
    """y = x * 1; y.op_(...): values and x's gradient as PyTorch's, and the version moves."""
    args, low = INPLACE[name]

    def fn(x: object) -> object:
        y = x * 1
        return getattr(y, name)(*args)

    check_op([(3, 4)], fn, low=low, high=0.9 if low == -0.9 else 2.0)
    x = en.tensor(np.random.default_rng(0).uniform(0.3, 0.9, (3, 4)), dtype=en.float32)
    expected = getattr(x, name.rstrip("_"))(*args)
    before = x._version
    assert getattr(x, name)(*args) is x
    assert x._version == before + 1
    np.testing.assert_allclose(x.numpy(), expected.numpy(), rtol=1e-6)


def test_inplace_on_data_of_a_parameter_changes_the_parameter() -> None:
    p = en.nn.Parameter(en.zeros(1000))
    p.data.normal_(0.0, 2.0)
    assert abs(float(p.detach().numpy().std()) - 2.0) < 0.2
    p.data.uniform_(-1, 1)
    values = p.detach().numpy()
    assert values.min() >= -1 and values.max() < 1 and values.std() > 0.4
    with np.errstate(invalid="ignore"):
        p.data.sqrt_()  # NaN for the negative half, as in PyTorch
    assert np.isnan(p.detach().numpy()).any()
    p.data.zero_()
    assert not p.detach().numpy().any()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in "
                                           "an in-place operation"):
        p.exp_()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        p.normal_()


def test_inplace_result_must_fit_the_dtype() -> None:
    x = en.tensor([1, 4, 9])
    for op in (lambda t: t.sqrt_(), lambda t: t.mul_(0.5), lambda t: t.add_(en.ones(3))):
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                               "output type Long"):
            op(x)
    assert x.tolist() == [1, 4, 9] and x._version == 0
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output "
                                           "type Bool"):
        en.tensor([True]).add_(en.tensor([2]))
    assert x.abs_().neg_().tolist() == [-1, -4, -9]
    assert en.tensor([1, 2], dtype=en.int32).add_(en.tensor([1, 1])).dtype == en.int32


def test_addcmul_addcdiv_addmm_in_place() -> None:
    check_op([(3, 4), (3, 4), (4,)], lambda a, b, c: (a * 1).addcmul_(b, c, value=0.5))
    check_op([(3, 4), (3, 4), (4,)], lambda a, b, c: (a * 1).addcdiv_(b, c, value=2), low=0.5)
    check_op([(3, 2), (3, 4), (4, 2)], lambda c, a, b: (c * 1).addmm_(a, b, beta=0.5, alpha=2))
    check_op([(3, 4), (3, 4)], lambda a, b: (a * 1).lerp_(b, 0.3))


def test_random_fills_are_seeded_typed_and_in_range() -> None:
    en.manual_seed(3)
    first = en.empty(500).normal_(1.0, 0.5)
    en.manual_seed(3)
    assert en.empty(500).normal_(1.0, 0.5).tolist() == first.tolist()
    assert abs(float(first.mean()) - 1.0) < 0.1 and first.dtype == en.float32
    double = en.empty(500, dtype=en.float64).uniform_(2, 3)
    assert double.dtype == en.float64 and 2 <= double.min().item() and double.max().item() < 3
    assert en.empty(10).uniform_(**{"from": 5, "to": 6}).min().item() >= 5
    coins = en.empty(2000).bernoulli_(0.25)
    assert set(coins.tolist()) <= {0.0, 1.0} and abs(float(coins.mean()) - 0.25) < 0.05
    sure = en.empty(4).bernoulli_(en.tensor([0.0, 1.0, 0.0, 1.0]))
    assert sure.tolist() == [0.0, 1.0, 0.0, 1.0]
    waits = en.empty(2000).exponential_(4.0)
    assert waits.min().item() >= 0 and abs(float(waits.mean()) - 0.25) < 0.03
    assert en.empty(100).log_normal_(0.0, 0.1).min().item() > 0
    ints = en.zeros(1000, dtype=en.int64).random_(3, 7)
    assert set(ints.tolist()) == {3, 4, 5, 6} and ints.dtype == en.int64
    assert set(en.zeros(500, dtype=en.int32).random_(2).tolist()) == {0, 1}
    assert set(en.zeros(50, dtype=en.bool_).random_().tolist()) == {False, True}
    assert en.zeros(10).random_().min().item() >= 0
    t = en.zeros(3)
    t.normal_()
    assert t._version == 1


def test_random_fill_on_a_non_leaf_cuts_the_gradient() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = en.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for x in (ours, theirs):
        y = x * 2
        y.uniform_()
        (y * x).sum().backward()
    # the gradient flows only through the second factor: d/dx (u * x) = u, and u is random
    assert ours.grad is not None and theirs.grad is not None
    assert ours.grad.shape == tuple(theirs.grad.shape)
    assert 0 <= ours.grad.min().item() and ours.grad.max().item() < 1


def test_eye_and_like_factories() -> None:
    torch = pytest.importorskip("torch")
    assert en.eye(3).tolist() == torch.eye(3).tolist()
    assert en.eye(2, 4, dtype=en.int64).tolist() == torch.eye(2, 4, dtype=torch.int64).tolist()
    assert en.eye(2, requires_grad=True).requires_grad
    x = en.ones(2, 3, dtype=en.float64)
    for fn in (en.zeros_like, en.ones_like, en.empty_like, en.rand_like, en.randn_like):
        made = fn(x)
        assert made.shape == (2, 3) and made.dtype == en.float64 and not made.requires_grad
        made = fn(x, dtype=en.float32, requires_grad=True, memory_format=en.preserve_format)
        assert made.dtype == en.float32 and made.requires_grad
    assert en.zeros_like(x, memory_format=en.contiguous_format).tolist() == [[0.0] * 3] * 2
    assert en.full_like(x, 7, dtype=en.int32).tolist() == [[7] * 3] * 2
    assert en.full_like(x, 2.5, requires_grad=True).requires_grad
    ints = en.randint_like(x, 5)
    assert ints.dtype == en.float64 and 0 <= ints.min().item() and ints.max().item() < 5
    assert set(en.randint_like(en.zeros(200, dtype=en.int64), 2, 4).tolist()) == {2, 3}
    with pytest.raises(NotImplementedError, match="\"check_uniform_bounds\" not implemented for "
                                                  "'Long'"):
        en.rand_like(en.zeros(2, dtype=en.int64))
    with pytest.raises(TypeError, match="must be torch.memory_format"):
        en.zeros_like(x, memory_format="preserve")
    assert repr(en.channels_last) == "engine.channels_last"


def test_clone_function_form() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    y = en.clone(x, memory_format=en.contiguous_format)
    (y * y).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    assert en.clone(en.tensor([1, 2])).tolist() == [1, 2]


def test_logspace_and_triangle_indices() -> None:
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(en.logspace(0, 2, 5).numpy(), torch.logspace(0, 2, 5).numpy(),
                               rtol=1e-6)
    assert en.logspace(0, 3, 4, base=2).tolist() == [1.0, 2.0, 4.0, 8.0]
    for args in ((3, 3), (3, 4, 1), (4, 3, -1)):
        assert en.tril_indices(*args).tolist() == torch.tril_indices(*args).tolist()
        assert en.triu_indices(*args).tolist() == torch.triu_indices(*args).tolist()
    assert en.tril_indices(2, 2).dtype == en.int64
    assert en.empty(2, memory_format=en.contiguous_format).shape == (2,)


def test_sampling_functions() -> None:
    coins = en.bernoulli(en.full((4000,), 0.3))
    assert coins.dtype == en.float32 and abs(float(coins.mean()) - 0.3) < 0.03
    assert en.tensor([0.0, 1.0, 1.0]).bernoulli().tolist() == [0.0, 1.0, 1.0]
    draws = en.normal(en.full((2000,), 3.0), 0.5)
    assert abs(float(draws.mean()) - 3.0) < 0.05 and abs(float(draws.std()) - 0.5) < 0.05
    assert en.normal(0.0, 1.0, size=(2, 3)).shape == (2, 3)
    assert en.normal(en.zeros(2, 1), en.ones(3)).shape == (2, 3)
    weights = en.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    picks = en.multinomial(weights, 2)
    assert picks.dtype == en.int64 and picks.shape == (2, 2)
    assert sorted(picks[0].tolist()) == [1, 2] and picks[1, 0].item() == 0
    many = weights[0].multinomial(3000, replacement=True)
    counts = np.bincount(many.numpy(), minlength=3)
    assert counts[0] == 0 and abs(counts[2] / 3000 - 0.75) < 0.04
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        en.multinomial(weights, 4)
    with pytest.raises(RuntimeError, match="probability tensor contains either `inf`, `nan` or "
                                           "element < 0"):
        en.multinomial(en.tensor([-1.0, 2.0]), 1)
    en.manual_seed(5)
    first = en.multinomial(en.ones(10), 4).tolist()
    en.manual_seed(5)
    assert en.multinomial(en.ones(10), 4).tolist() == first
