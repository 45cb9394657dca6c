"""A bias changed in place between forward and backward (weight averaging, clipping) is no error
for Linear and Conv2d, fused or not, as in PyTorch, whose matmul and convolution nodes do not
save it; a changed input or weight still raises."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en

NETS = {
    "linear": lambda lib: lib.nn.Sequential(lib.nn.Linear(4, 3)),
    "linear_relu": lambda lib: lib.nn.Sequential(lib.nn.Linear(4, 3), lib.nn.ReLU()),
    "conv": lambda lib: lib.nn.Sequential(lib.nn.Conv2d(2, 3, 3)),
    "conv_relu_pool": lambda lib: lib.nn.Sequential(lib.nn.Conv2d(2, 3, 3), lib.nn.ReLU(),
                                                    lib.nn.MaxPool2d(2)),
}
SHAPES = {"linear": (5, 4), "linear_relu": (5, 4), "conv": (2, 2, 6, 6),
          "conv_relu_pool": (2, 2, 6, 6)}


def _grads_after_bias_change(lib: object, name: str, state: dict) -> list[np.ndarray]:
    net = NETS[name](lib)
    net.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    x = np.random.default_rng(0).standard_normal(SHAPES[name]).astype(np.float32)
    out = net(lib.tensor(x))
    with lib.no_grad():
        net[0].bias.add_(1.0)
    out.sum().backward()  # raised "modified by an inplace operation" before
    return [p.grad.numpy() for p in net.parameters()]


@pytest.mark.parametrize("name", list(NETS))
def test_bias_changed_in_place_before_backward_is_allowed(name: str) -> None:
    torch = pytest.importorskip("torch")
    state = {k: v.numpy().copy() for k, v in NETS[name](en).state_dict().items()}
    ours = _grads_after_bias_change(en, name, state)
    theirs = _grads_after_bias_change(torch, name, state)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(NETS))
def test_weight_or_input_changed_in_place_before_backward_still_raises(name: str) -> None:
    net = NETS[name](en)
    x = en.tensor(np.ones(SHAPES[name], np.float32), requires_grad=True)
    out = net(x)
    with en.no_grad():
        net[0].weight.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    out = net(x)
    with en.no_grad():
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
