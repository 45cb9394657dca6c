"""Elementwise losses (MSE, L1, smooth L1, Huber, BCE, KL divergence) and the ranking losses vs
PyTorch and float64 gradcheck; every reduction, weights, and PyTorch's error messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import check_op

import engine as en
import engine.nn.functional as F
from engine import nn

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = TF = None

REDUCTIONS = ["mean", "sum", "none"]
rng = np.random.default_rng(7)
W34 = rng.uniform(0.2, 2.0, (3, 4))


def _t(a: np.ndarray | None) -> object:
    return None if a is None or torch is None else torch.tensor(a, dtype=torch.float32)


def _e(a: np.ndarray | None, device: object = "cpu") -> object:
    return None if a is None else en.tensor(a, dtype=en.float32, device=device)


def _lib(x: object) -> object:
    return F if isinstance(x, en.Tensor) else TF


def _w(x: object, a: np.ndarray | None) -> object:
    # PyTorch wants a loss weight on the input's device
    return _e(a, x.device) if isinstance(x, en.Tensor) else _t(a)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, W34], ids=["plain", "weighted"])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_mse_and_l1(name: str, weight: np.ndarray | None, reduction: str, backend: str) -> None:
    check_op([(3, 4), (3, 4)], device=backend,
             engine_fn=lambda a, b: getattr(_lib(a), name)(a, b, reduction=reduction,
                                                           weight=_w(a, weight)))


def test_mse_broadcast_warns_and_is_one_node() -> None:
    with pytest.warns(UserWarning, match="different to the input size"):
        check_op([(3, 4), (4,)], engine_fn=lambda a, b: _lib(a).mse_loss(a, b))
    loss = F.mse_loss(en.randn(3, requires_grad=True), en.randn(3))
    assert type(loss.grad_fn).__name__ == "MSELoss"
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        F.mse_loss(en.randn(3, 4), en.randn(3, 4), weight=en.ones(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1(beta: float, reduction: str, backend: str) -> None:
    check_op([(4, 5), (4, 5)], device=backend,
             engine_fn=lambda a, b: _lib(a).smooth_l1_loss(a, b, reduction=reduction, beta=beta))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.3])
@pytest.mark.parametrize("weight", [None, W34], ids=["plain", "weighted"])
def test_huber(weight: np.ndarray | None, delta: float, reduction: str, backend: str) -> None:
    check_op([(3, 4), (3, 4)], device=backend,
             engine_fn=lambda a, b: _lib(a).huber_loss(a, b, reduction=reduction, delta=delta,
                                                       weight=_w(a, weight)))


def test_regression_loss_errors() -> None:
    with pytest.raises(RuntimeError, match="does not support negative values for beta"):
        F.smooth_l1_loss(en.randn(2), en.randn(2), beta=-1.0)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        F.huber_loss(en.randn(2), en.randn(2), delta=0.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, W34, W34[0]], ids=["plain", "weighted", "row"])
def test_binary_cross_entropy(weight: np.ndarray | None, reduction: str, backend: str) -> None:
    probs = rng.uniform(0.05, 0.95, (3, 4))
    check_op([probs, (3, 4)], low=0.0, high=1.0, device=backend, gc_atol=1e-4,
             engine_fn=lambda p, t: _lib(p).binary_cross_entropy(p, t, weight=_w(p, weight),
                                                                 reduction=reduction))


def test_binary_cross_entropy_clamps_log_at_minus_100_and_checks_range() -> None:
    p = en.tensor([0.0, 1.0, 0.5], requires_grad=True)
    t = en.tensor([1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [100.0, 100.0, np.log(2)], rtol=1e-6)
    loss.sum().backward()
    if torch is not None:
        tp = torch.tensor([0.0, 1.0, 0.5], requires_grad=True)
        TF.binary_cross_entropy(tp, torch.tensor([1.0, 0.0, 1.0]), reduction="none").sum()\
            .backward()
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(en.tensor([1.5]), en.tensor([1.0]))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(en.tensor([float("nan")]), en.tensor([1.0]))
    with pytest.raises(ValueError, match="different to the input size .* is deprecated"):
        F.binary_cross_entropy(en.tensor([0.5, 0.5]), en.tensor([1.0]))


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool, backend: str) -> None:
    q = rng.dirichlet(np.ones(5), size=4)
    target = np.log(q) if log_target else q
    check_op([(4, 5), target], device=backend, requires_grad=[True, True],
             engine_fn=lambda x, t: _lib(x).kl_div(_lib(x).log_softmax(x, 1), t,
                                                   reduction=reduction, log_target=log_target))


def test_kl_div_mean_warns_as_pytorch_and_zero_target_counts_zero() -> None:
    x = en.tensor([[-1.0, -2.0]])
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        loss = F.kl_div(x, en.tensor([[0.0, 1.0]]))
    assert loss.item() == pytest.approx((1.0 * (0.0 + 2.0)) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, en.tensor([[0.5, 0.5]]), reduction="batchmean")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_and_cosine_embedding(reduction: str) -> None:
    target = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    check_op([(5,), (5,), target], requires_grad=[True, True, False],
             engine_fn=lambda a, b, t: _lib(a).margin_ranking_loss(a, b, t, margin=0.3,
                                                                   reduction=reduction))
    check_op([(5, 3), (5, 3), target], requires_grad=[True, True, False],
             engine_fn=lambda a, b, t: _lib(a).cosine_embedding_loss(a, b, t, margin=0.1,
                                                                     reduction=reduction))


MODULES = [
    ("BCELoss", {}, "sigmoid"), ("BCELoss", {"reduction": "sum"}, "sigmoid"),
    ("SmoothL1Loss", {"beta": 0.5}, None), ("HuberLoss", {"delta": 0.5}, None),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, "log"),
    ("L1Loss", {"reduction": "sum"}, None), ("MSELoss", {"reduction": "none"}, None),
]


@pytest.mark.parametrize("case", MODULES, ids=lambda c: f"{c[0]}{c[1]}")
def test_loss_modules_match_torch(case: tuple) -> None:
    torch_ = pytest.importorskip("torch")
    name, kw, squash = case
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32)
    if squash == "sigmoid":
        x = 1 / (1 + np.exp(-x))
    if squash == "log":
        y = np.log(y)
    ours, theirs = getattr(nn, name)(**kw), getattr(torch_.nn, name)(**kw)
    assert repr(ours) == repr(theirs)
    np.testing.assert_allclose(ours(en.tensor(x), en.tensor(y)).numpy(),
                               theirs(torch_.tensor(x), torch_.tensor(y)).numpy(), rtol=1e-5)


def test_loss_module_reduction_is_checked_when_run_as_pytorch() -> None:
    loss = nn.MSELoss(reduction="avg")  # PyTorch accepts it here and fails in forward
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        loss(en.randn(2), en.randn(2))
    assert nn.L1Loss(size_average=False).reduction == "sum"
    a, b, t = en.randn(4, 3), en.randn(4, 3), en.tensor([1.0, -1.0, 1.0, -1.0])
    assert nn.CosineEmbeddingLoss(0.2)(a, b, t).item() == \
        F.cosine_embedding_loss(a, b, t, 0.2).item()
    assert nn.MarginRankingLoss(0.1, reduction="sum")(a[:, 0], b[:, 0], t).item() == \
        F.margin_ranking_loss(a[:, 0], b[:, 0], t, 0.1, reduction="sum").item()
