"""Tensor.data is PyTorch's detached view, and .grad assignment is checked as PyTorch checks it."""

import numpy as np
import pytest

import engine as en


def test_data_is_a_detached_tensor_sharing_memory():
    w = en.ones(3, requires_grad=True)
    d = w.data
    assert isinstance(d, en.Tensor) and not d.requires_grad and d.grad_fn is None
    d.add_(1)  # the PyTorch idiom p.data.add_(...) writes the parameter
    np.testing.assert_array_equal(w.detach().numpy(), [2, 2, 2])


def test_data_writes_are_not_seen_by_version_checks():
    w = en.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    w.data.mul_(0)  # PyTorch allows this silently: .data is outside autograd
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])


def test_data_assignment_replaces_values():
    w = en.zeros(2, 2, requires_grad=True)
    w.data = en.ones(3)
    assert w.shape == (3,) and w.requires_grad
    np.testing.assert_array_equal(w.detach().numpy(), [1, 1, 1])
    with pytest.raises(TypeError, match="data must be a Tensor"):
        w.data = np.ones(3)


def test_max_over_data_unpacks_values_and_indices():
    out = en.tensor([[0.1, 0.9], [0.8, 0.2]], requires_grad=True)
    _, pred = en.max(out.data, 1)
    np.testing.assert_array_equal(pred.numpy(), [1, 0])


@pytest.mark.parametrize(("value", "error", "message"), [
    (0.0, TypeError, "assigned grad expected to be a Tensor or None but got grad of type float"),
    (en.zeros(3), RuntimeError, "assigned grad has data of a different size"),
    (en.zeros(2, dtype=en.float64), RuntimeError, "assigned grad has data of a different type"),
])
def test_bad_grad_assignment_is_refused_at_once(value, error, message):
    w = en.zeros(2, requires_grad=True)
    with pytest.raises(error, match=message):
        w.grad = value
    assert w.grad is None


def test_grad_assignment_is_used_by_backward():
    w = en.zeros(2, requires_grad=True)
    w.grad = en.ones(2)
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4, 4])
    w.grad = None
    assert w.grad is None
