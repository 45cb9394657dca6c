"""Every in-place write to a tensor's array bumps its version: a graph that saved the old values
then refuses to backward, with PyTorch's error, instead of returning wrong gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine as en
from engine import nn, optim
from engine.nn import init

MODIFIED = "modified by an inplace operation"
OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
              "RAdam", "ASGD", "Rprop"]
# Options that make each optimizer keep (and update) state tensors shaped like the parameter.
STATEFUL = {"SGD": {"momentum": 0.9}, "RMSprop": {"momentum": 0.9, "centered": True},
            "Adam": {"amsgrad": True}}


def _saved_then_written(t: en.Tensor, write: Callable[[], Any]) -> en.Tensor:
    """A loss whose graph saved t, then write() run: return the loss for a second backward."""
    x = en.ones(*t.shape, requires_grad=True)
    loss = (x * t).sum()  # Mul saves t for x's gradient
    before = t._version
    write()
    assert t._version > before, "the write did not bump the version"
    return loss


def _assert_refused(loss: en.Tensor) -> None:
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_step_refuses_a_graph_that_saved_the_parameter(name: str) -> None:
    w = nn.Parameter(en.tensor([1.0, -2.0, 3.0]))
    opt = getattr(optim, name)([w], lr=0.1)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    before = w._version
    opt.step()
    assert w._version > before
    _assert_refused(loss)
    torch = pytest.importorskip("torch")
    tw = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    topt = getattr(torch.optim, name)([tw], lr=0.1)
    tloss = (tw * tw).sum()
    tloss.backward(retain_graph=True)
    topt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        tloss.backward()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_step_bumps_its_state_tensors(name: str) -> None:
    w = nn.Parameter(en.tensor([1.0, -2.0, 3.0]))
    opt = getattr(optim, name)([w], lr=0.1, **STATEFUL.get(name, {}))

    def step() -> None:
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    step()
    tensors = {k: v for k, v in opt.state[w].items()
               if isinstance(v, en.Tensor) and v.shape == w.shape}
    assert tensors, f"{name} keeps no state tensor shaped like its parameter"
    _assert_refused(_saved_then_written(next(iter(tensors.values())), step))
    versions = {k: v._version for k, v in tensors.items()}
    step()
    assert all(tensors[k]._version > versions[k] for k in tensors), versions


def test_lbfgs_step_refuses_a_graph_that_saved_the_parameter() -> None:
    w = nn.Parameter(en.tensor([1.0, -2.0, 3.0]))
    opt = optim.LBFGS([w], lr=0.5, max_iter=3)
    loss = (w * w).sum()

    def closure() -> en.Tensor:
        opt.zero_grad()
        out = (w * w).sum()
        out.backward()
        return out

    before = w._version
    opt.step(closure)
    assert w._version > before
    _assert_refused(loss)


INITS = [("uniform_", ()), ("normal_", ()), ("constant_", (0.5,)), ("ones_", ()), ("zeros_", ()),
         ("eye_", ()), ("xavier_uniform_", ()), ("xavier_normal_", ()), ("kaiming_uniform_", ()),
         ("kaiming_normal_", ()), ("trunc_normal_", ()), ("orthogonal_", ())]


@pytest.mark.parametrize(("name", "args"), INITS, ids=[n for n, _ in INITS])
def test_init_refuses_a_graph_that_saved_the_tensor(name: str, args: tuple) -> None:
    w = nn.Parameter(en.ones(3, 3))
    loss = (w * w).sum()
    with en.no_grad():
        _assert_bumped(w, lambda: getattr(init, name)(w, *args))
    _assert_refused(loss)


def _assert_bumped(t: en.Tensor, write: Callable[[], Any]) -> None:
    before = t._version
    write()
    assert t._version > before


def test_load_state_dict_refuses_a_graph_that_saved_the_parameter() -> None:
    layer = nn.Linear(2, 2)
    state = {k: v.detach().clone() + 1 for k, v in layer.state_dict().items()}
    loss = layer(en.ones(1, 2)).sum()
    _assert_bumped(layer.weight, lambda: layer.load_state_dict(state))
    _assert_refused(loss)


def test_batchnorm_running_stats_bump_in_a_training_forward() -> None:
    bn = nn.BatchNorm1d(2)
    loss = _saved_then_written(bn.running_mean, lambda: bn(en.randn(4, 2)))
    _assert_refused(loss)
    before = (bn.running_var._version, bn.num_batches_tracked._version)
    bn(en.randn(4, 2))
    assert (bn.running_var._version, bn.num_batches_tracked._version) > before
    bn.eval()
    versions = (bn.running_mean._version, bn.running_var._version)
    bn(en.randn(4, 2))  # eval reads the running statistics without writing them
    assert (bn.running_mean._version, bn.running_var._version) == versions


def test_embedding_max_norm_renormalises_the_weight_in_place() -> None:
    emb = nn.Embedding(3, 2, max_norm=0.5)
    with en.no_grad():
        emb.weight.fill_(3.0)
    loss = (emb.weight * emb.weight).sum()
    _assert_bumped(emb.weight, lambda: emb(en.tensor([0, 1])))
    _assert_refused(loss)


WRITES = {
    "copy_": lambda t: t.copy_(en.zeros(3)),
    "fill_": lambda t: t.fill_(2.0),
    "zero_": lambda t: t.zero_(),
    "add_": lambda t: t.add_(1.0),
    "setitem": lambda t: t.__setitem__(0, 5.0),
    "out=": lambda t: en.add(en.ones(3), en.ones(3), out=t),
    "normal_": lambda t: t.normal_(),
    "squeeze_": lambda t: t.unsqueeze_(0).squeeze_(0),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_tensor_writes_refuse_a_graph_that_saved_the_tensor(name: str) -> None:
    t = en.tensor([1.0, 2.0, 3.0])
    loss = _saved_then_written(t, lambda: WRITES[name](t))
    _assert_refused(loss)


def test_writes_through_a_view_bump_the_base() -> None:
    t = en.tensor([1.0, 2.0, 3.0])
    loss = _saved_then_written(t, lambda: t[1:].mul_(2.0))
    _assert_refused(loss)


def _grad_of(w: en.Tensor) -> en.Tensor:
    (w * w).sum().backward()
    return w.grad


GRAD_WRITES = {
    "Optimizer.zero_grad": lambda w: optim.SGD([w], lr=0.1).zero_grad(set_to_none=False),
    "Module.zero_grad": lambda w: _holder(w).zero_grad(set_to_none=False),
    "clip_grad_norm_": lambda w: nn.utils.clip_grad_norm_([w], 0.1),
    "clip_grad_value_": lambda w: nn.utils.clip_grad_value_([w], 0.1),
}


def _holder(w: en.Tensor) -> nn.Module:
    module = nn.Module()
    module.w = w
    return module


@pytest.mark.parametrize("name", list(GRAD_WRITES))
def test_gradient_writes_bump_the_gradient(name: str) -> None:
    """.grad is written in place too (PyTorch's versions count these writes as well)."""
    w = nn.Parameter(en.tensor([1.0, -2.0, 3.0]))
    grad = _grad_of(w)
    _assert_bumped(grad, lambda: GRAD_WRITES[name](w))
    torch = pytest.importorskip("torch")
    tw = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    (tw * tw).sum().backward()
    before = tw.grad._version
    {"Optimizer.zero_grad": lambda: torch.optim.SGD([tw], lr=0.1).zero_grad(set_to_none=False),
     "Module.zero_grad": lambda: tw.grad.zero_(),
     "clip_grad_norm_": lambda: torch.nn.utils.clip_grad_norm_([tw], 0.1),
     "clip_grad_value_": lambda: torch.nn.utils.clip_grad_value_([tw], 0.1)}[name]()
    assert tw.grad._version > before


@pytest.mark.parametrize("clip", [nn.utils.clip_grad_norm_, nn.utils.clip_grad_value_])
def test_clipping_refuses_foreach_true(clip: Any) -> None:
    w = nn.Parameter(en.tensor([1.0, -2.0, 3.0]))
    grad = _grad_of(w)
    with pytest.raises(RuntimeError, match=rf"^{clip.__name__}\(foreach=True\) is not supported"):
        clip([w], 0.1, foreach=True)
    np.testing.assert_array_equal(grad.numpy(), [2.0, -4.0, 6.0])
    clip([w], 0.1, foreach=False)
    assert np.abs(grad.numpy()).max() <= 0.1 + 1e-6


def test_a_step_changes_no_value_a_version_check_would_see() -> None:
    """The version bump is bookkeeping only: the step's numbers are torch's."""
    torch = pytest.importorskip("torch")
    start = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    w, tw = nn.Parameter(en.tensor(start)), torch.nn.Parameter(torch.tensor(start))
    opt, topt = optim.Adam([w], lr=0.1), torch.optim.Adam([tw], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        (w * w).sum().backward()
        (tw * tw).sum().backward()
        opt.step()
        topt.step()
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-6)
