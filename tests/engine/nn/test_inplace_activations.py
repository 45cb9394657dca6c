"""inplace=True on activations and dropout writes into the input, as PyTorch does: the values
change, the version bumps, the input itself is returned, and gradients match torch's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine as en
from engine import nn
from engine.nn import functional as F

X = np.array([[-2.0, -0.5, 0.0], [0.25, 1.5, 7.0]], dtype=np.float32)
FUNCTIONAL = [("relu", ()), ("leaky_relu", (0.2,)), ("elu", (0.7,)), ("selu", ()),
              ("celu", (0.5,)), ("relu6", ()), ("hardsigmoid", ()), ("hardswish", ()),
              ("silu", ()), ("mish", ()), ("hardtanh", (-0.5, 0.5)), ("threshold", (0.1, -3.0))]
MODULES = [("ReLU", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.7,)), ("SELU", ()), ("CELU", (0.5,)),
           ("ReLU6", ()), ("Hardsigmoid", ()), ("Hardswish", ()), ("SiLU", ()), ("Mish", ()),
           ("Hardtanh", (-0.5, 0.5)), ("Threshold", (0.1, -3.0))]


def _run(lib: Any, call: Any, requires_grad: bool = True) -> tuple[Any, Any, Any, int]:
    """(leaf, non-leaf input, returned tensor, version bump) for call on a non-leaf copy of X."""
    leaf = lib.tensor(X.copy(), requires_grad=requires_grad)
    x = leaf * 1.0
    before = x._version
    out = call(x)
    return leaf, x, out, x._version - before


def _check_against_torch(ours: Any, theirs: Any) -> None:
    torch = pytest.importorskip("torch")
    leaf, x, out, bumped = _run(en, ours)
    tleaf, tx, tout, _ = _run(torch, theirs)
    assert out is x and bumped >= 1
    np.testing.assert_allclose(x.detach().numpy(), tx.detach().numpy(), rtol=1e-6, atol=1e-7)
    weight = np.arange(X.size, dtype=np.float32).reshape(X.shape) - 2
    (out * en.tensor(weight)).sum().backward()
    (tout * torch.tensor(weight)).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), tleaf.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "args"), FUNCTIONAL, ids=[n for n, _ in FUNCTIONAL])
def test_functional_inplace_writes_into_the_input(name: str, args: tuple) -> None:
    torch = pytest.importorskip("torch")
    _check_against_torch(lambda x: getattr(F, name)(x, *args, inplace=True),
                         lambda x: getattr(torch.nn.functional, name)(x, *args, inplace=True))


@pytest.mark.parametrize(("name", "args"), MODULES, ids=[n for n, _ in MODULES])
def test_module_inplace_writes_into_the_input(name: str, args: tuple) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args, inplace=True), getattr(torch.nn, name)(*args,
                                                                                 inplace=True)
    _check_against_torch(ours, theirs)


@pytest.mark.parametrize(("name", "args"), FUNCTIONAL, ids=[n for n, _ in FUNCTIONAL])
def test_out_of_place_leaves_the_input_alone(name: str, args: tuple) -> None:
    _, x, out, bumped = _run(en, lambda x: getattr(F, name)(x, *args))
    assert out is not x and bumped == 0
    np.testing.assert_array_equal(x.detach().numpy(), X)


@pytest.mark.parametrize(("name", "args"), FUNCTIONAL, ids=[n for n, _ in FUNCTIONAL])
def test_inplace_on_a_leaf_that_requires_grad_raises(name: str, args: tuple) -> None:
    leaf = en.tensor(X.copy(), requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in "
                                           "an in-place operation"):
        getattr(F, name)(leaf, *args, inplace=True)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in "
                                           "an in-place operation"):
        getattr(torch.nn.functional, name)(torch.tensor(X.copy(), requires_grad=True), *args,
                                           inplace=True)


def test_inplace_relu_refuses_a_graph_that_saved_its_input() -> None:
    leaf = en.tensor(X.copy(), requires_grad=True)
    x = leaf * 1.0
    loss = (x * x).sum()
    F.relu(x, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_inplace_without_grad_returns_the_input() -> None:
    t = en.tensor(X.copy())
    assert F.relu(t, inplace=True) is t and t._version == 1
    np.testing.assert_array_equal(t.numpy(), np.maximum(X, 0))


DROPOUTS = [("dropout", "Dropout", X), ("dropout1d", "Dropout1d", X[None]),
            ("dropout2d", "Dropout2d", X[None, :, :, None]),
            ("dropout3d", "Dropout3d", X[None, :, :, None, None])]


@pytest.mark.parametrize(("name", "module", "data"), DROPOUTS, ids=[d[0] for d in DROPOUTS])
def test_dropout_inplace_matches_out_of_place_with_the_same_seed(name: str, module: str,
                                                                 data: np.ndarray) -> None:
    def run(call: Any) -> tuple[Any, Any, Any]:
        en.manual_seed(3)
        leaf = en.tensor(data.copy(), requires_grad=True)
        x = leaf * 1.0
        out = call(x)
        (out * out).sum().backward()
        return out, x, leaf.grad.numpy()

    expected, _, grad = run(lambda x: getattr(F, name)(x, 0.5, True))
    for call in (lambda x: getattr(F, name)(x, 0.5, True, inplace=True),
                 getattr(nn, module)(0.5, inplace=True)):
        out, x, inplace_grad = run(call)
        assert out is x and x._version == 1
        np.testing.assert_array_equal(x.detach().numpy(), expected.detach().numpy())
        np.testing.assert_array_equal(inplace_grad, grad)


def _block(lib: Any) -> Any:
    """Conv -> BatchNorm -> ReLU(inplace) -> Linear -> LeakyReLU(inplace), as model code has it."""
    m = lib.nn
    return m.Sequential(m.Conv2d(2, 3, 3), m.BatchNorm2d(3), m.ReLU(inplace=True), m.Flatten(),
                        m.Linear(12, 4), m.LeakyReLU(0.1, inplace=True), m.Linear(4, 1))


def test_a_model_with_inplace_activations_trains_as_torchs() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _block(en), _block(torch)
    ours.load_state_dict({k: en.tensor(v.detach().numpy()) for k, v in
                          theirs.state_dict().items()})
    data = np.random.default_rng(0).standard_normal((5, 2, 4, 4)).astype(np.float32)
    out, tout = ours(en.tensor(data)), theirs(torch.tensor(data))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_inplace_on_a_view_that_requires_grad_is_refused_not_ignored() -> None:
    """The engine cannot rewrite a view's base history (PyTorch's CopySlices): it says so."""
    base = en.tensor(X.copy(), requires_grad=True) * 1.0
    view = base.reshape(3, 2)
    with pytest.raises(RuntimeError, match=r"in-place operation on a view \(Reshape\) of a tensor "
                                           r"that requires grad is not supported"):
        F.relu(view, inplace=True)
    np.testing.assert_array_equal(base.detach().numpy(), X)
    np.testing.assert_array_equal(F.relu(view.clone(), inplace=True).detach().numpy(),
                                  np.maximum(X, 0).reshape(3, 2))
