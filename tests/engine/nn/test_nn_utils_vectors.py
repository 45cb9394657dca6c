"""nn.utils.parameters_to_vector / vector_to_parameters and the two halves of clip_grad_norm_
(get_total_norm, clip_grads_with_norm_), against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import nn

torch = pytest.importorskip("torch")


def _pair() -> tuple[nn.Module, torch.nn.Module]:
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                            for k, v in ours.state_dict().items()})
    return ours, theirs


def test_parameters_to_vector_values_and_gradient_match_torch() -> None:
    ours, theirs = _pair()
    vec = nn.utils.parameters_to_vector(ours.parameters())
    expected = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(vec.detach().numpy(), expected.detach().numpy())
    weights = np.linspace(-1, 1, expected.numel()).astype(np.float32)
    (vec * en.tensor(weights)).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_vector_to_parameters_sets_each_slice_and_shares_the_vectors_memory() -> None:
    ours, theirs = _pair()
    count = sum(p.numel() for p in ours.parameters())
    values = np.arange(count, dtype=np.float32)
    vec = en.tensor(values)
    nn.utils.vector_to_parameters(vec, ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.from_numpy(values.copy()), theirs.parameters())
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
        assert p.requires_grad and p.is_leaf
    with en.no_grad():
        vec[0] = -5.0  # the first weight is a view of vec now, as in PyTorch
    assert ours[0].weight.detach().numpy()[0, 0] == -5.0
    x = en.tensor(np.ones((2, 3), np.float32))
    ours(x).sum().backward()  # still trainable parameters
    assert ours[0].weight.grad.shape == (4, 3)
    with pytest.raises(TypeError, match="expected Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0, 2.0], ours.parameters())


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), float("-inf"), 0])
def test_get_total_norm_then_clip_grads_with_norm_is_clip_grad_norm_(norm_type: float) -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (4,), (2, 4))]
    total = nn.utils.get_total_norm([en.tensor(g) for g in grads], norm_type)
    expected = torch.nn.utils.get_total_norm([torch.from_numpy(g) for g in grads], norm_type)
    np.testing.assert_allclose(float(total), float(expected), rtol=1e-6)
    params = [en.zeros(*g.shape, requires_grad=True) for g in grads]
    theirs = [torch.zeros(*g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(params, theirs, grads, strict=True):
        p.grad, q.grad = en.tensor(g.copy()), torch.from_numpy(g.copy())
    nn.utils.clip_grads_with_norm_(params, 0.5, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.5, expected)
    for p, q in zip(params, theirs, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)
    assert float(nn.utils.get_total_norm([])) == 0.0
    with pytest.raises(RuntimeError, match="foreach=True"):
        nn.utils.get_total_norm([en.tensor(grads[0])], foreach=True)
