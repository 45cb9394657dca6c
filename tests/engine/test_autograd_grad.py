"""autograd.grad / autograd.backward, grad_fn.next_functions and node names, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en

try:
    import torch
except ImportError:
    torch = None


def _libs():
    return [en] + ([torch] if torch is not None else [])


def _graph(lib):
    w = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = lib.tensor([0.5, -0.5], requires_grad=True)
    x = lib.tensor([[1.0, -1.0], [2.0, 0.5]])
    hidden = (x @ w + b).relu()
    return w, b, hidden, (hidden * hidden).mean()


def test_grad_matches_torch_and_leaves_grad_untouched():
    found = []
    for lib in _libs():
        w, b, hidden, loss = _graph(lib)
        gw, gb = lib.autograd.grad(loss, [w, b])
        assert w.grad is None and b.grad is None
        found.append((np.array(gw.tolist()), np.array(gb.tolist())))
    w, b, hidden, loss = _graph(en)
    loss.backward()  # the same numbers as .backward() puts in .grad
    np.testing.assert_allclose(found[0][0], w.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(found[0][1], b.grad.numpy(), rtol=1e-6)
    assert np.abs(found[0][0]).sum() > 0
    if torch is not None:
        np.testing.assert_allclose(found[0][0], found[1][0], rtol=1e-6)
        np.testing.assert_allclose(found[0][1], found[1][1], rtol=1e-6)


def test_grad_of_non_leaf_and_grad_outputs():
    for lib in _libs():
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        z = y * y
        (gy,) = lib.autograd.grad(z, y, grad_outputs=lib.tensor([1.0, 0.0, 2.0]))
        assert gy.tolist() == [4.0, 0.0, 24.0] and x.grad is None


def test_grad_several_outputs_sum():
    for lib in _libs():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (g,) = lib.autograd.grad([(x * 3).sum(), (x * x).sum()], [x])
        assert g.tolist() == [5.0, 7.0]


def test_grad_errors_match_torch():
    for lib in _libs():
        x = lib.tensor([1.0], requires_grad=True)
        unused = lib.tensor([1.0], requires_grad=True)
        y = (x * 2).sum()
        with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
            lib.autograd.grad(y, [x, unused], retain_graph=True)
        gx, gu = lib.autograd.grad(y, [x, unused], allow_unused=True, retain_graph=True)
        assert gx.tolist() == [2.0] and gu is None
        gx, gu = lib.autograd.grad(y, [x, unused], allow_unused=True, materialize_grads=True)
        assert gu.tolist() == [0.0]
        with pytest.raises(RuntimeError, match="does not require grad"):
            lib.autograd.grad((x * 2).sum(), lib.tensor([1.0]))
        with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
            lib.autograd.grad(lib.tensor(1.0), x)


def test_grad_frees_graph_unless_retained():
    x = en.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    en.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        en.autograd.grad(y, x)


def test_grad_runs_leaf_hooks():
    for lib in _libs():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: g * 10)
        (g,) = lib.autograd.grad((x * 1).sum(), x)
        assert g.tolist() == [10.0, 10.0]


def test_autograd_backward_several_roots_and_inputs():
    for lib in _libs():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.tensor([3.0], requires_grad=True)
        lib.autograd.backward([(x * y).sum(), (x * x).sum()])
        assert x.grad.tolist() == [5.0, 7.0] and y.grad.tolist() == [3.0]
        lib.autograd.backward([x * 2], [lib.tensor([1.0, 1.0])], inputs=[x])
        assert x.grad.tolist() == [7.0, 9.0]
        grad_out = lib.tensor([1.0, 1.0])
        x.grad = None
        lib.autograd.backward(x * 1, grad_out)
        x.grad.add_(1)
        assert grad_out.tolist() == [1.0, 1.0]  # .grad never aliases the caller's gradient


def test_next_functions_pairs_as_torch():
    for lib in _libs():
        x = lib.ones(2, requires_grad=True)
        y = (x * 2).sum()
        pairs = y.grad_fn.next_functions
        assert len(pairs) == 1 and pairs[0][1] == 0
        mul = pairs[0][0]
        assert mul.name() == "MulBackward0"
        acc, index = mul.next_functions[0]
        assert type(acc).__name__ == "AccumulateGrad" and index == 0
        assert acc.variable is x
        assert acc.next_functions == ()
        assert mul.next_functions[1] == (None, 0)  # the constant 2


@pytest.mark.parametrize("make", [
    lambda lib, a, b: a + b, lambda lib, a, b: a * b, lambda lib, a, b: a - b,
    lambda lib, a, b: a / b, lambda lib, a, b: a.sum(), lambda lib, a, b: a.mean(),
    lambda lib, a, b: a.relu(), lambda lib, a, b: a @ b, lambda lib, a, b: a.exp(),
    lambda lib, a, b: a.tanh(), lambda lib, a, b: a.sigmoid(), lambda lib, a, b: a.reshape(4),
    lambda lib, a, b: a.permute(1, 0), lambda lib, a, b: a ** 2, lambda lib, a, b: -a,
    lambda lib, a, b: lib.cat([a, b]), lambda lib, a, b: a.log_softmax(1),
    lambda lib, a, b: a.softmax(1), lambda lib, a, b: a.double(),
])
def test_node_names_match_torch(make):
    names = []
    for lib in _libs():
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        b = lib.tensor([[0.5, 1.0], [1.5, 2.0]], requires_grad=True)
        names.append(make(lib, a, b).grad_fn.name())
    assert names[0].endswith("Backward0")
    if torch is not None:
        assert names[0] == names[1]


def test_leaf_node_name_and_repr():
    x = en.ones(1, requires_grad=True)
    node = (x * 2).grad_fn.next_functions[0][0]
    assert node.name() == "AccumulateGrad"
    assert repr(node).startswith("<AccumulateGrad object at 0x")
    assert repr((x * 2).grad_fn).startswith("<MulBackward0 object at 0x")


def test_detect_anomaly_is_accepted():
    assert not en.autograd.is_anomaly_enabled()
    with en.autograd.detect_anomaly():
        assert en.autograd.is_anomaly_enabled()
        x = en.ones(1, requires_grad=True)
        (x * 2).sum().backward()
    assert not en.autograd.is_anomaly_enabled()
    en.autograd.set_detect_anomaly(True)
    assert en.autograd.is_anomaly_enabled()
    en.autograd.set_detect_anomaly(False)


def test_create_graph_is_refused():
    x = en.ones(1, requires_grad=True)
    with pytest.raises(NotImplementedError, match="higher-order"):
        en.autograd.grad((x * x).sum(), x, create_graph=True)


def test_deprecated_variable_shim_as_torch():
    for lib in _libs():
        t = lib.ones(2)
        v = lib.autograd.Variable(t, requires_grad=True)
        assert v is not t and v.requires_grad and v.is_leaf
        assert isinstance(t, lib.autograd.Variable)
        assert not lib.autograd.Variable(t * 2).requires_grad
        y = lib.ones(2, requires_grad=True) * 3
        assert lib.autograd.Variable(y).grad_fn is None
        with lib.no_grad():
            v.mul_(2)
        assert t.tolist() == [2.0, 2.0]  # memory is shared


def test_grad_through_a_diamond_and_a_deep_chain():
    for lib in _libs():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        z = (y * 3) + (y * y)
        gy, gx = lib.autograd.grad(z.sum(), [y, x])
        assert gy.tolist() == [7.0, 11.0] and gx.tolist() == [14.0, 22.0]
    x = en.ones(2, requires_grad=True)
    y = x
    for _ in range(2000):  # deep graphs are walked without recursion
        y = y * 1.001
    (g,) = en.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), [1.001 ** 2000] * 2, rtol=1e-4)
