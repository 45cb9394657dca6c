"""Loss functions and modules vs PyTorch and float64 gradcheck; cross-entropy is one fused op."""

from __future__ import annotations

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

TARGETS = np.array([2, 0, 3, 3, 1])
WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])


def _tw(array: np.ndarray | None) -> object:
    return None if array is None or torch is None else torch.tensor(array, dtype=torch.float32)


def _ew(array: np.ndarray | None, device: object = "cpu") -> object:
    # PyTorch wants a loss weight on the input's device
    return None if array is None else en.tensor(array, dtype=en.float32, device=device)


CE_CASES = [
    {"reduction": "mean"},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.2},
    {"ignore_index": 3},
    {"weight": WEIGHT},
    {"weight": WEIGHT, "label_smoothing": 0.1, "ignore_index": 0},
    {"weight": WEIGHT, "label_smoothing": 0.3, "reduction": "none"},
]


@pytest.mark.parametrize("kw", CE_CASES, ids=str)
def test_cross_entropy_class_indices(kw: dict, backend: str) -> None:
    weight = kw.get("weight")
    rest = {k: v for k, v in kw.items() if k != "weight"}
    check_op([(5, 4), TARGETS],
             engine_fn=lambda x, t: F.cross_entropy(x, t, weight=_ew(weight, x.device), **rest),
             torch_fn=lambda x, t: TF.cross_entropy(x, t, weight=_tw(weight), **rest),
             device=backend)


def test_cross_entropy_spatial_and_probabilities() -> None:
    target = np.array([[[0, 2], [1, 1]], [[2, 2], [0, 1]]])
    check_op([(2, 3, 2, 2), target],
             engine_fn=lambda x, t: F.cross_entropy(x, t, reduction="none"),
             torch_fn=lambda x, t: TF.cross_entropy(x, t, reduction="none"))
    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=5)
    check_op([(5, 4), probs], requires_grad=[True, False],
             engine_fn=lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1),
             torch_fn=lambda x, p: TF.cross_entropy(x, p, label_smoothing=0.1))


def test_cross_entropy_is_one_node_and_stable_for_huge_logits() -> None:
    x = en.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    loss = F.cross_entropy(x, en.tensor([2]))
    assert type(loss.grad_fn).__name__ == "CrossEntropy"
    assert loss.grad_fn.name() == "NllLossBackward0"  # where PyTorch's graph ends
    assert F.nll_loss(x, en.tensor([2])).grad_fn.name() == "NllLossBackward0"
    assert loss.grad_fn.next_functions[0][0] is x._grad_node()  # directly on the logits
    assert np.isfinite(loss.item()) and abs(loss.item() - 2000.0) < 1e-3
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 0.0, -1.0]], atol=1e-6)


def test_cross_entropy_errors() -> None:
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(en.randn(2, 4), en.tensor([1, 4]))
    with pytest.raises(ValueError, match="input batch_size \\(2\\) to match target batch_size"):
        F.cross_entropy(en.randn(2, 4), en.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(en.randn(2, 4), en.tensor([1, 2]), reduction="avg")


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"weight": WEIGHT, "ignore_index": 1}], ids=str)
def test_nll_loss(kw: dict, backend: str) -> None:
    weight = kw.get("weight")
    rest = {k: v for k, v in kw.items() if k != "weight"}
    check_op([(5, 4), TARGETS],
             engine_fn=lambda x, t: F.nll_loss(F.log_softmax(x, 1), t, weight=_ew(weight, x.device),
                                                    **rest),
             torch_fn=lambda x, t: TF.nll_loss(TF.log_softmax(x, 1), t, weight=_tw(weight),
                                               **rest), device=backend)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction: str, backend: str) -> None:
    check_op([(3, 4), (3, 4)], engine_fn=lambda a, b: F.mse_loss(a, b, reduction=reduction),
             torch_fn=lambda a, b: TF.mse_loss(a, b, reduction=reduction), device=backend)
    check_op([(3, 4), (3, 4)], engine_fn=lambda a, b: F.l1_loss(a, b, reduction=reduction),
             torch_fn=lambda a, b: TF.l1_loss(a, b, reduction=reduction), device=backend)


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"pos_weight": np.array([1.0, 3.0, 0.5])},
                                {"weight": np.array([2.0, 1.0, 0.5])}], ids=str)
def test_bce_with_logits(kw: dict, backend: str) -> None:
    targets = (np.random.default_rng(1).random((4, 3)) > 0.5).astype(np.float64)
    theirs = {k: _tw(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}

    def ours(x: en.Tensor, t: en.Tensor) -> en.Tensor:
        weights = {k: _ew(v, x.device) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        return F.binary_cross_entropy_with_logits(x, t, **weights)

    check_op([(4, 3), targets], requires_grad=[True, False], low=-30, high=30,
             engine_fn=ours,
             torch_fn=lambda x, t: TF.binary_cross_entropy_with_logits(x, t, **theirs),
             device=backend, gc_atol=1e-4)


def test_bce_with_logits_target_gradient() -> None:
    check_op([(4, 3), (4, 3)], low=0.1, high=0.9,
             engine_fn=lambda x, t: F.binary_cross_entropy_with_logits(x, t),
             torch_fn=lambda x, t: TF.binary_cross_entropy_with_logits(x, t))


def test_loss_modules_match_functional() -> None:
    x, t = en.randn(5, 4), en.tensor(TARGETS)
    w = _ew(WEIGHT)
    ce = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, ignore_index=2)
    ref = F.cross_entropy(x, t, weight=w, label_smoothing=0.1, ignore_index=2)
    assert ce(x, t).item() == ref.item()
    assert list(ce.state_dict()) == ["weight"]
    assert nn.NLLLoss(reduction="sum")(x, t).item() == F.nll_loss(x, t, reduction="sum").item()
    y = en.randn(5, 4)
    assert nn.MSELoss()(x, y).item() == F.mse_loss(x, y).item()
    assert nn.L1Loss(reduction="none")(x, y).shape == (5, 4)
    pw = en.ones(4) * 2
    assert nn.BCEWithLogitsLoss(pos_weight=pw)(x, y.sigmoid()).item() == \
        F.binary_cross_entropy_with_logits(x, y.sigmoid(), pos_weight=pw).item()
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_unweighted_path_matches_weighted_one(reduction: str) -> None:
    # Without weights or ignored rows the loss skips its masks; weights of ones take the
    # general path and must give the same loss and gradient.
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    target = en.tensor([4, 0, 2, 2, 1, 3])
    results = []
    for weight in (None, en.ones(5)):
        x = en.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, target, weight=weight, reduction=reduction)
        loss.backward(en.tensor(np.arange(1.0, 7.0, dtype=np.float32)) if reduction == "none"
                      else None)
        results.append((loss.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6, atol=1e-7)
    assert results[0][0].dtype == np.float32 and results[0][1].dtype == np.float32
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs[np.arange(6), target.numpy()] -= 1
    scale = np.arange(1.0, 7.0)[:, None] if reduction == "none" else (
        1 / 6 if reduction == "mean" else 1.0)
    np.testing.assert_allclose(results[0][1], probs * scale, rtol=1e-5, atol=1e-6)
