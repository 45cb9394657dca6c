"""Hyperparameter errors (PyTorch's messages), implementation switches, versions, SparseAdam."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import optim

BAD = [
    ("Adadelta", {"lr": -1.0}, "Invalid learning rate: -1.0"),
    ("Adadelta", {"rho": 1.5}, "Invalid rho value: 1.5"),
    ("Adadelta", {"eps": -1e-3}, "Invalid epsilon value: -0.001"),
    ("Adadelta", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("Adamax", {"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
    ("Adamax", {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    ("NAdam", {"momentum_decay": -0.1}, "Invalid momentum_decay value: -0.1"),
    ("NAdam", {"betas": (-0.1, 0.9)}, "Invalid beta parameter at index 0: -0.1"),
    ("RAdam", {"weight_decay": -0.5}, "Invalid weight_decay value: -0.5"),
    ("RAdam", {"lr": -0.5}, "Invalid learning rate: -0.5"),
    ("ASGD", {"lr": -0.5}, "Invalid learning rate: -0.5"),
    ("ASGD", {"weight_decay": -0.5}, "Invalid weight_decay value: -0.5"),
    ("Rprop", {"etas": (1.5, 2.0)}, "Invalid eta values: 1.5, 2.0"),
    ("Rprop", {"etas": (0.5, 0.9)}, "Invalid eta values: 0.5, 0.9"),
    ("SparseAdam", {"lr": 0.0}, "Invalid learning rate: 0.0"),
    ("SparseAdam", {"eps": 0.0}, "Invalid epsilon value: 0.0"),
    ("LBFGS", {"lr": -1.0}, "Invalid learning rate: -1.0"),
]


def _param() -> en.Tensor:
    return en.nn.Parameter(en.zeros(3))


@pytest.mark.parametrize(("name", "kwargs", "message"), BAD,
                         ids=[f"{n}-{'-'.join(k)}" for n, k, _ in BAD])
def test_bad_hyperparameters_raise_torchs_error(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        getattr(optim, name)([_param()], **kwargs)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=f"^{message}$"):
        getattr(torch.optim, name)([torch.zeros(3, requires_grad=True)], **kwargs)


ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
       "ASGD", "Rprop"]
# Which switches each optimizer takes in PyTorch (ours take exactly the same).
FLAGS = {"SGD": ("foreach", "differentiable", "fused"),
         "Adagrad": ("foreach", "differentiable", "fused"),
         "Adam": ("foreach", "capturable", "differentiable", "fused"),
         "AdamW": ("foreach", "capturable", "differentiable", "fused")}


@pytest.mark.parametrize("name", ALL)
def test_implementation_switches_are_refused_when_true(name: str) -> None:
    """None of them is silently ignored: True raises, naming the switch; False is the default."""
    flags = FLAGS.get(name, ("foreach", "capturable", "differentiable"))
    for flag in flags:
        with pytest.raises(RuntimeError, match=rf"^{name}\({flag}=True\) is not supported: "
                                               rf".*; leave {flag} at its default"):
            getattr(optim, name)([_param()], lr=0.1, **{flag: True})
        opt = getattr(optim, name)([_param()], lr=0.1, **{flag: False})  # the default spelled out
        assert opt.param_groups[0][flag] is False
    with pytest.raises(TypeError, match="unexpected keyword"):
        getattr(optim, name)([_param()], lr=0.1, no_such_switch=True)


def test_signatures_are_torchs() -> None:
    """Every optimizer takes torch's parameters, in torch's order, with torch's defaults."""
    torch = pytest.importorskip("torch")
    import inspect

    for name in [*ALL, "LBFGS", "SparseAdam"]:
        ours = inspect.signature(getattr(optim, name).__init__).parameters
        theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
        assert list(ours) == list(theirs), name
        for key, param in theirs.items():
            assert ours[key].kind == param.kind, (name, key)
            assert ours[key].default == param.default, (name, key)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_fused_and_foreach_together_is_torchs_error(name: str) -> None:
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        getattr(optim, name)([_param()], lr=0.1, fused=True, foreach=True)
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        getattr(optim, name)([_param()], lr=0.1, fused=True, differentiable=True)


def test_step_bumps_the_parameter_version() -> None:
    """A step changes parameters in place: a graph that saved one can no longer backward."""
    w = en.nn.Parameter(en.tensor([1.0, 2.0]))
    opt = optim.Adadelta([w])
    loss = (w * w).sum()
    before = w._version
    loss.backward(retain_graph=True)
    opt.step()
    assert w._version == before + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_sparse_adam_refuses_dense_gradients() -> None:
    w = en.nn.Parameter(en.tensor([1.0, 2.0]))
    opt = optim.SparseAdam([w])
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, "
                                           "please consider Adam instead"):
        opt.step()
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])


@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam", "Rprop", "LBFGS"])
def test_tensor_lr_is_read_as_its_value(name: str) -> None:
    opt = getattr(optim, name)([_param()], lr=en.tensor(0.25))
    assert opt.param_groups[0]["lr"] == 0.25 and isinstance(opt.param_groups[0]["lr"], float)
    with pytest.raises(ValueError, match="^Tensor lr must be 1-element$"):
        getattr(optim, name)([_param()], lr=en.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="^Tensor lr must be 1-element$"):
        getattr(optim, name)([{"params": [_param()], "lr": en.tensor([0.1, 0.2])}], lr=0.1)
