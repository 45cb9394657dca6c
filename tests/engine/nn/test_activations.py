"""Activation functions and modules vs PyTorch (forward, backward, repr, state dict) and float64
gradcheck."""

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


def _lib(x: object) -> object:
    return F if isinstance(x, en.Tensor) else TF


# (functional name, kwargs): inputs span [-5, 5] so every kink (±3 for the hard gates) is crossed.
FUNCTIONS = [
    ("elu", {}), ("elu", {"alpha": 0.5}), ("selu", {}), ("celu", {"alpha": 2.0}),
    ("silu", {}), ("mish", {}), ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 3.0}),
    ("hardtanh", {}), ("hardtanh", {"min_val": -2.0, "max_val": 0.5}), ("relu6", {}),
    ("hardsigmoid", {}), ("hardswish", {}), ("logsigmoid", {}), ("tanhshrink", {}),
    ("softsign", {}), ("threshold", {"threshold": 0.5, "value": -3.0}),
    ("softmin", {"dim": 1}), ("glu", {}), ("glu", {"dim": 0}), ("hardshrink", {}),
    ("hardshrink", {"lambd": 1.5}), ("softshrink", {}), ("softshrink", {"lambd": 2.0}),
]


@pytest.mark.parametrize("case", FUNCTIONS, ids=lambda c: f"{c[0]}{c[1]}")
def test_activation_functions(case: tuple, backend: str) -> None:
    name, kw = case
    shape = (4, 6) if name == "glu" else (3, 5)
    check_op([shape], low=-5.0, high=5.0, device=backend,
             engine_fn=lambda x: getattr(_lib(x), name)(x, **kw))


def test_activations_are_stable_at_extremes() -> None:
    x = en.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    out = F.logsigmoid(x) + F.softplus(x) + F.mish(x) + F.silu(x) + F.elu(x)
    out.sum().backward()
    assert np.isfinite(out.detach().numpy()).all() and np.isfinite(x.grad.numpy()).all()
    if torch is not None:
        tx = torch.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
        t_out = TF.logsigmoid(tx) + TF.softplus(tx) + TF.mish(tx) + TF.silu(tx) + TF.elu(tx)
        t_out.sum().backward()
        np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape,channels", [((4, 3, 2), 3), ((4, 3), 1), ((4, 3), 3), ((5,), 1)])
def test_prelu(shape: tuple, channels: int, backend: str) -> None:
    weight = np.linspace(0.1, 0.6, channels)
    check_op([shape, weight], low=-3.0, high=3.0, device=backend,
             engine_fn=lambda x, w: _lib(x).prelu(x, w))


def test_activation_errors() -> None:
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        F.prelu(en.randn(2, 3), en.ones(2))
    with pytest.raises(RuntimeError, match="parameter numbers = 5 and channel size = 1"):
        F.prelu(en.randn(5), en.ones(5))
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(en.randn(2, 3))
    with pytest.raises(ValueError, match="must be greater than min_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(RuntimeError, match="lambda must be greater or equal to 0"):
        F.softshrink(en.randn(2), -1.0)


MODULES = [
    ("ELU", ()), ("ELU", (0.5, True)), ("CELU", (1.5,)), ("SELU", ()), ("SELU", (True,)),
    ("SiLU", ()), ("Mish", ()), ("Hardswish", ()), ("Hardsigmoid", ()), ("Hardtanh", ()),
    ("Hardtanh", (-2.0, 2.0)), ("ReLU6", ()), ("ReLU6", (True,)), ("Softplus", (2.0, 5.0)),
    ("Threshold", (0.1, 20.0)), ("PReLU", ()), ("PReLU", (3, 0.1)), ("LogSigmoid", ()),
    ("Tanhshrink", ()), ("Softsign", ()), ("Softmin", (1,)), ("GLU", ()), ("GLU", (0,)),
    ("Hardshrink", ()), ("Softshrink", (0.3,)), ("ReLU", (True,)), ("LeakyReLU", (0.2, True)),
    ("GELU", ("tanh",)), ("Softmax", (-1,)),
]


@pytest.mark.parametrize("case", MODULES, ids=lambda c: f"{c[0]}{c[1]}")
def test_activation_modules_match_torch(case: tuple) -> None:
    torch_ = pytest.importorskip("torch")
    name, args = case
    ours, theirs = getattr(nn, name)(*args), getattr(torch_.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() * 1.5 for k, v in theirs.state_dict().items()})
    with torch_.no_grad():
        for p in theirs.parameters():
            p.mul_(1.5)
    x = np.random.default_rng(0).uniform(-4, 4, (2, 3, 4)).astype(np.float32)
    xe, xt = en.tensor(x, requires_grad=True), torch_.tensor(x, requires_grad=True)
    oe, ot = ours(xe * 1), theirs(xt * 1)  # a non-leaf input, which inplace=True may change
    np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), rtol=1e-5, atol=1e-6)
    oe.sum().backward()
    ot.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5)
