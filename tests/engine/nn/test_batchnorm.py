"""BatchNorm1d/2d vs PyTorch in train and eval mode, running statistics included."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op

import engine as en
import engine.nn.functional as F
from engine import nn

torch = pytest.importorskip("torch")

CASES = [
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 5), {}),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (2, 3, 4, 4), {"momentum": None}),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (3, 3, 2, 5), {"affine": False, "momentum": 0.3}),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3), {"eps": 1e-3}),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5), {}),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (5, 3), {"track_running_stats": False}),
]


def _step(ours: nn.Module, theirs: object, x: np.ndarray, g: np.ndarray) -> None:
    """Forward and backward both; compare outputs, input grads and parameter grads."""
    xe = en.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    oe, ot = ours(xe), theirs(xt)
    np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), atol=2e-5, rtol=1e-4)
    oe.backward(en.tensor(g))
    ot.backward(torch.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=5e-5, rtol=1e-3)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=5e-5, rtol=1e-4,
                                   err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}{c[2]}{c[3]}")
def test_batchnorm_train_then_eval_matches_torch(case: tuple) -> None:
    ours_cls, theirs_cls, shape, kw = case
    ours, theirs = ours_cls(3, **kw), theirs_cls(3, **kw)
    if ours.affine:  # non-trivial affine parameters, the same in both
        w, b = np.array([0.5, 1.5, -1.0]), np.array([0.1, -0.2, 0.3])
        ours.load_state_dict({**theirs.state_dict(), "weight": w, "bias": b})
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w)), theirs.bias.copy_(torch.tensor(b))
    rng = np.random.default_rng(0)
    for mode in ("train", "train", "train", "eval", "train", "eval"):
        ours.train(mode == "train"), theirs.train(mode == "train")
        ours.zero_grad(), theirs.zero_grad()
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        _step(ours, theirs, x, rng.standard_normal(shape).astype(np.float32))
        ref = theirs.state_dict()
        assert list(ours.state_dict()) == list(ref)
        for key, value in ours.state_dict().items():
            np.testing.assert_allclose(value.numpy(), ref[key].numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{mode}: {key}")


def test_batch_norm_op_gradcheck_train_and_eval() -> None:
    check_op([(3, 2, 2, 2), (2,), (2,)], low=0.5, high=2.0,
             engine_fn=lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
             torch_fn=lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b,
                                                                     training=True))
    rm, rv = np.array([0.3, -0.2]), np.array([1.5, 0.7])
    check_op([(3, 2, 4), (2,), (2,)],
             engine_fn=lambda x, w, b: F.batch_norm(x, en.tensor(rm, dtype=x.dtype),
                                                    en.tensor(rv, dtype=x.dtype), w, b),
             torch_fn=lambda x, w, b: torch.nn.functional.batch_norm(
                 x, torch.tensor(rm, dtype=x.dtype), torch.tensor(rv, dtype=x.dtype), w, b))


def test_batchnorm_errors_and_repr() -> None:
    bn = nn.BatchNorm2d(4)
    with pytest.raises(ValueError, match="expected 4D input"):
        bn(en.randn(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(4)(en.randn(1, 4))
    assert repr(bn) == repr(torch.nn.BatchNorm2d(4))
    assert bn.num_batches_tracked.dtype == en.int64
    bn(en.randn(2, 4, 3, 3))
    assert bn.num_batches_tracked.item() == 1
