"""Autograd semantics as in PyTorch: accumulation, graph freeing, grad modes, hooks, versions."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en


def test_leaf_gradients_accumulate_across_backward_calls() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_grad_is_a_fresh_array_not_a_view_of_upstream_gradients() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    g = en.tensor([1.0, 1.0])
    (x + 0).backward(g)
    x.grad._data += 5  # must not write into g
    assert g.tolist() == [1.0, 1.0]
    y = en.tensor([1.0, 2.0], requires_grad=True)
    (y + 0).backward(g)
    assert y.grad.tolist() == [1.0, 1.0]


def test_non_leaf_grad_is_none_and_retain_grad_keeps_it() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    z = x * 2
    w = x * 3
    w.retain_grad()
    (z * z + w).sum().backward()
    assert z.grad is None and not z.is_leaf and x.is_leaf
    assert w.grad.tolist() == [1.0, 1.0]
    assert x.grad.tolist() == [8 * 1.0 + 3, 8 * 2.0 + 3]


def test_non_scalar_backward_without_gradient_raises_torch_text() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    message = "^grad can be implicitly created only for scalar outputs$"
    with pytest.raises(RuntimeError, match=message):
        (x * 2).backward()
    y = x * 2
    y.backward(en.tensor([1.0, 0.5]))
    assert x.grad.tolist() == [2.0, 1.0]
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(en.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        en.tensor([1.0]).backward()


def test_graph_freed_after_backward_unless_retain_graph() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]) + [2.0, 4.0], rtol=1e-6)


def test_shared_subgraph_gets_summed_gradient() -> None:
    x = en.tensor([0.5, -1.0], requires_grad=True)
    h = x.tanh()
    loss = (h * 2 + h.exp() + h).sum()
    loss.backward()
    t = np.tanh([0.5, -1.0])
    np.testing.assert_allclose(x.grad.numpy(), (3 + np.exp(t)) * (1 - t**2), rtol=1e-5)


def test_no_grad_and_enable_grad_as_context_managers_and_decorators() -> None:
    x = en.tensor([1.0], requires_grad=True)
    assert en.is_grad_enabled()
    with en.no_grad():
        assert not en.is_grad_enabled()
        y = x * 2
        with en.enable_grad():
            assert en.is_grad_enabled() and (x * 2).requires_grad
        assert not en.is_grad_enabled()
    assert en.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @en.no_grad()
    def frozen(t):
        return t * 2, en.is_grad_enabled()

    @en.enable_grad()
    def thawed(t):
        return t * 2

    out, enabled = frozen(x)
    assert not out.requires_grad and not enabled and en.is_grad_enabled()
    with en.no_grad():
        assert thawed(x).requires_grad
    en.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    en.set_grad_enabled(True)


def test_no_grad_restores_mode_after_exception() -> None:
    with pytest.raises(ValueError), en.no_grad():
        raise ValueError
    assert en.is_grad_enabled()


def test_detach_shares_data_and_cuts_the_graph() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d._data, y._data)
    (y.sum() + (d * x).sum()).backward()
    assert x.grad.tolist() == [4.0, 6.0]  # 2 from y, d = 2x treated as a constant


def test_requires_grad_flags() -> None:
    x = en.tensor([1.0, 2.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        en.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert (x * en.tensor([1.0, 1.0])).requires_grad
    assert not (x.detach() * 2).requires_grad


def test_hook_on_leaf_modifies_gradient_and_handle_removes_it() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 3).sum().backward()
    assert x.grad.tolist() == [30.0, 30.0]
    assert seen == [[30.0, 30.0]]  # hooks chain: the second sees the first's result
    handle.remove()
    handle.remove()  # removing twice is harmless
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_leaf_hook_runs_once_with_the_total_gradient() -> None:
    x = en.tensor([1.0], requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(g.item()))
    (x * 2 + x * 3).sum().backward()
    assert calls == [5.0] and x.grad.item() == 5.0


def test_hook_on_non_leaf_modifies_gradient_flowing_back() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    m = x * 2
    handle = m.register_hook(lambda g: g + 1)
    (m * m).sum().backward()
    assert x.grad.tolist() == [10.0, 18.0]  # dL/dm = 2m = [4, 8], +1, times 2
    handle.remove()
    x.grad = None
    m = x * 2
    (m * m).sum().backward()
    assert x.grad.tolist() == [8.0, 16.0]
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        en.tensor([1.0]).register_hook(lambda g: g)


def test_inplace_change_to_saved_input_raises_at_backward() -> None:
    a = en.tensor([1.0, 2.0], requires_grad=True)
    b = en.tensor([3.0, 4.0], requires_grad=True)
    c = a * b
    with en.no_grad():
        a.add_(1)
    assert a._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1"):
        c.sum().backward()


def test_inplace_change_to_saved_output_raises_at_backward() -> None:
    a = en.tensor([1.0, 2.0], requires_grad=True)
    e = a.exp()
    e.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        e.sum().backward()
    s = a.sigmoid()
    with en.no_grad():
        s.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.sum().backward()


def test_inplace_change_to_unsaved_tensor_is_fine() -> None:
    a = en.tensor([1.0, 2.0], requires_grad=True)
    x = a + 1  # Add saves nothing
    x.add_(1)
    x.mul_(3)
    x.sum().backward()
    assert x.tolist() == [9.0, 12.0] and a.grad.tolist() == [3.0, 3.0]
    b = en.tensor([1.0, 2.0], requires_grad=True)
    y = b * 2
    z = y * 1  # saves y, but y is not changed afterwards
    assert b.exp()._data.shape == (2,)  # reading data is not a change
    z.sum().backward()
    assert b.grad.tolist() == [2.0, 2.0]


def test_inplace_ops_record_gradients_on_non_leaves() -> None:
    torch = pytest.importorskip("torch")
    results = []
    for lib in (en, torch):
        a = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = a * 1
        y.mul_(a)
        y.sub_(a, alpha=2)
        y.clamp_(-1.5, 5.0)
        y.div_(2)
        y.sum().backward()
        results.append((y.tolist(), a.grad.tolist()))
    np.testing.assert_allclose(results[0], results[1])


def test_inplace_on_leaf_requiring_grad_raises_but_not_under_no_grad() -> None:
    a = en.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: a.add_(1), lambda: a.mul_(2), lambda: a.zero_(),
               lambda: a.copy_(en.ones(2)), lambda: a.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()
    with en.no_grad():
        a.add_(1)
        a.mul_(2)
        a[0] = 0.5
    assert a.tolist() == [0.5, 6.0] and a.requires_grad and a.is_leaf


def test_inplace_plain_tensor_ops_and_versions() -> None:
    t = en.zeros(2, 2)
    t.fill_(3.0).add_(1).sub_(en.ones(2), alpha=2).mul_(2).div_(4).clamp_(max=0.5)
    assert t.tolist() == [[0.5, 0.5], [0.5, 0.5]] and t._version == 6
    t.copy_(en.tensor([1, 2]))
    assert t.tolist() == [[1.0, 2.0], [1.0, 2.0]] and t.dtype == en.float32
    t.zero_()
    assert t.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_optimizer_style_update_under_no_grad_keeps_leaf() -> None:
    w = en.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with en.no_grad():
        w.sub_(w.grad, alpha=0.1)
    assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    w.grad.zero_()
    (w * 1).sum().backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_gradient_of_integer_path_is_not_tracked() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    idx = x.argmax()
    assert not idx.requires_grad
    assert not (x > 1).requires_grad


def test_gradcheck_detects_a_wrong_gradient() -> None:
    from engine.function import Function

    class WrongSquare(Function):
        def forward(self, a):
            self.a = a
            return a * a

        def backward(self, g):
            return g * self.a  # should be 2 * a

    x = en.tensor([1.0, 2.0], dtype=en.float64, requires_grad=True)
    assert en.autograd.gradcheck(lambda t: t * t, (x,))
    assert not en.autograd.gradcheck(WrongSquare.apply, (x,), raise_exception=False)
    with pytest.raises(en.GradcheckError, match="mismatch"):
        en.autograd.gradcheck(WrongSquare.apply, (x,))
    with pytest.raises(ValueError, match="float64"):
        en.autograd.gradcheck(lambda t: t * t, (en.tensor([1.0], requires_grad=True),))


def test_leaf_grads_never_alias_each_other_or_saved_arrays() -> None:
    a = en.tensor([1.0, 2.0], requires_grad=True)
    b = en.tensor([3.0, 4.0], requires_grad=True)
    (a + b).backward(en.tensor([1.0, 1.0]))  # Add hands the same array to both inputs
    a.grad.add_(10)
    assert b.grad.tolist() == [1.0, 1.0]
    c = en.tensor([[1.0, 2.0]], requires_grad=True)
    c.sum().backward()  # Sum's gradient is a broadcast: .grad must still be writable
    c.grad.mul_(3)
    assert c.grad.tolist() == [[3.0, 3.0]]
    m = en.tensor([[1.0], [2.0]], requires_grad=True)
    w = en.tensor([[2.0, 3.0]], requires_grad=True)
    (m @ w).sum().backward()
    m.grad.zero_()
    assert w.grad.tolist() == [[3.0, 3.0]]


def test_reduction_results_are_writable_tensors() -> None:
    s = en.ones(3).sum()
    s.add_(1)
    assert s.item() == 4.0 and s._version == 1
    m = en.ones(2, 2).max()
    m.fill_(0)
    assert m.item() == 0.0


def test_branch_without_gradient_still_reaches_other_leaves() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    y = en.tensor([3.0, 4.0], requires_grad=True)
    idx = (x * y).argmax()  # an integer path: no gradient flows through it
    out = (x * 2).sum() + y[idx]
    out.backward()
    assert x.grad.tolist() == [2.0, 2.0] and y.grad.tolist() == [0.0, 1.0]


def test_hooks_run_with_grad_mode_off_as_in_torch() -> None:
    x = en.tensor([1.0], requires_grad=True)
    modes = []
    y = x * 2
    y.register_hook(lambda g: modes.append(en.is_grad_enabled()))
    y.sum().backward()
    assert modes == [False] and en.is_grad_enabled()


def test_views_share_the_version_counter() -> None:
    a = en.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = a.exp()
    with en.no_grad():
        y[1:].add_(1)  # a view of y: y's values changed, Exp's saved output too
    assert y._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    b = en.tensor([1.0, 2.0], requires_grad=True)
    z = b.sigmoid()
    z.detach().zero_()  # detach shares data and the counter, as in PyTorch
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    c = en.tensor([[1.0, 2.0], [3.0, 4.0]])
    for view in (c.reshape(4), c.T, c[0], c.unsqueeze(0), c.detach()):
        before = c._version
        view.mul_(1)
        assert c._version == before + 1
    copy = c[[0, 0]]  # advanced indexing copies: its own data and counter
    before = c._version
    copy.add_(1)
    assert c.tolist() == [[1.0, 2.0], [3.0, 4.0]] and c._version == before


def test_inplace_on_a_view_that_requires_grad_raises() -> None:
    a = en.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        a[0].add_(1)
    y = a * 2
    with pytest.raises(RuntimeError, match="view .*clone"):
        y.reshape(2, 1).mul_(2)
    v = y[0:1].clone()
    v.mul_(2)  # a clone is not a view
    v.sum().backward()
    assert a.grad.tolist() == [4.0, 0.0]


def test_queued_callbacks_run_once_the_pass_has_finished() -> None:
    from engine.autograd.backprop import queue_callback

    a = en.tensor([1.0, 2.0], requires_grad=True)
    seen: list = []
    y = a * 3
    # Queued while y's gradient is computed: a.grad is still None then, complete afterwards.
    y.register_hook(lambda g: queue_callback(lambda: seen.append(a.grad.tolist())))
    (y.sum() + (a * a).sum()).backward()
    assert seen == [[5.0, 7.0]]
    seen.clear()
    b = en.tensor([1.0], requires_grad=True)
    z = b * 2
    z.register_hook(lambda g: queue_callback(lambda: seen.append("ran")))
    z.register_hook(lambda g: 1 / 0)  # the pass fails: what it queued is dropped
    with pytest.raises(ZeroDivisionError):
        z.sum().backward()
    (b * 1).sum().backward()
    assert seen == []
