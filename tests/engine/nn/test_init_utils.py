"""nn.init (PyTorch's bounds and gains, driven by manual_seed) and gradient clipping."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import engine as en
from engine import nn
from engine.nn import init


def test_fans_and_gains() -> None:
    assert init._calculate_fan_in_and_fan_out(en.empty(8, 3, 5, 5)) == (75, 200)
    assert init._calculate_fan_in_and_fan_out(en.empty(4, 6)) == (6, 4)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(en.empty(3))
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2 / 6)
    assert init.calculate_gain("tanh") == 5 / 3 and init.calculate_gain("conv2d") == 1
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_initialisers_bounds_and_statistics() -> None:
    w = en.empty(400, 300)
    init.kaiming_uniform_(w, a=math.sqrt(5))
    bound = 1 / math.sqrt(300)  # torch's Linear default: kaiming_uniform_(a=sqrt(5))
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.99 * bound
    init.xavier_uniform_(w)
    assert w.abs().max().item() <= math.sqrt(6 / 700)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 400)) < 0.003
    init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * math.sqrt(2 / 700)) < 0.003
    init.normal_(w, 1.0, 0.5)
    assert abs(w.numpy().mean() - 1.0) < 0.01
    init.uniform_(w, -3, -2)
    assert -3 <= w.numpy().min() and w.numpy().max() < -2
    init.constant_(w, 0.25)
    assert (w.numpy() == 0.25).all()
    init.ones_(w), init.zeros_(w)
    assert not w.numpy().any() and w.dtype == en.float32
    init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.numpy()).max() <= 0.5


def test_layer_defaults_follow_manual_seed() -> None:
    en.manual_seed(7)
    a = nn.Conv2d(3, 4, 3)
    en.manual_seed(7)
    b = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    assert a.bias.abs().max().item() <= 1 / math.sqrt(27)
    assert a.weight.abs().max().item() <= 1 / math.sqrt(27)


def test_clip_grad_norm_and_value_match_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (5,), (2, 2))]
    for norm_type, max_norm in ((2.0, 1.0), (1.0, 2.5), (float("inf"), 0.5), (2.0, 100.0)):
        ours = [nn.Parameter(en.zeros(*g.shape)) for g in grads]
        theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = en.tensor(g), torch.tensor(g)
        total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
        ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
        assert abs(total.item() - ref.item()) < 1e-4 * max(1.0, ref.item())
        for p, q in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    p = nn.Parameter(en.zeros(4))
    p.grad = en.tensor([-3.0, 0.5, 2.0, -0.1])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), np.array([-1.0, 0.5, 1.0, -0.1], np.float32))


GRAD_SETS = [
    [[0.5, -2.0, 3.0], [1.5, 0.25]],
    [[0.0, 0.0, 0.0], [1.5, 0.25]],  # one gradient all zeros
    [[0.5, float("nan"), 3.0], [1.5, 0.25]],
]


@pytest.mark.parametrize("grads", GRAD_SETS, ids=["plain", "zeros", "nan"])
@pytest.mark.parametrize("norm_type", [-math.inf, 0, -1.0, 0.5, 3, math.inf])
def test_clip_grad_norm_of_every_order_matches_torch(grads: list, norm_type: float) -> None:
    # -inf gave 1.0 (0 ** -0) and clipped wrongly; 0 raised ZeroDivisionError
    torch = pytest.importorskip("torch")

    def clipped(lib: object, utils: object) -> tuple[float, list]:
        params = [lib.zeros(len(g), requires_grad=True) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = lib.tensor(np.array(g, np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # 0 ** -1 is inf without a NumPy warning
            total = utils.clip_grad_norm_(params, 0.1, norm_type=norm_type)
        return float(total), [p.grad.numpy() for p in params]

    (ours, our_grads), (theirs, their_grads) = clipped(en, nn.utils), clipped(torch, torch.nn.utils)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    for mine, reference in zip(our_grads, their_grads, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-7)
