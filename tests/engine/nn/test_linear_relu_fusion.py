"""Sequential's Linear, ReLU pairs run as one node: bitwise the two ops' values and gradients,
PyTorch's within rounding, and left unfused wherever fusing could be seen."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import torch_twin_results

import engine as en
from engine import nn


def _net(bias: bool, inplace: bool, dtype: type) -> nn.Sequential:
    en.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4, bias=bias), nn.ReLU(inplace=inplace), nn.Linear(4, 3))
    return net.to(dtype=en.float64) if dtype == np.float64 else net


def _input(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    x[0] = 0  # a row whose pre-activations are the biases alone (or exact zeros without)
    return x


def _grads(net: nn.Sequential, x: np.ndarray, fused: bool) -> list[np.ndarray]:
    """Output, input gradient and parameter gradients, through Sequential (fused) or by
    calling the layers one by one (never fused)."""
    t = en.tensor(x, requires_grad=True)
    out = net(t) if fused else net[2](net[1](net[0](t)))
    weights = np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(x.dtype)
    (out * en.tensor(weights)).sum().backward()
    values = [out.detach().numpy(), t.grad.numpy()] + [p.grad.numpy() for p in net.parameters()]
    net.zero_grad()
    return values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu-inplace"])
@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5)], ids=["2d", "3d"])
def test_fused_pair_is_bitwise_the_two_ops_and_matches_torch(dtype: type, bias: bool,
                                                             inplace: bool, shape: tuple) -> None:
    net, x = _net(bias, inplace, dtype), _input(shape, dtype)
    fused, apart = _grads(net, x, True), _grads(net, x, False)
    for a, b in zip(fused, apart, strict=True):
        assert a.dtype == dtype and a.tobytes() == b.tobytes()
    assert (fused[0] != 0).any() and (fused[1] != 0).any()
    torch = pytest.importorskip("torch")
    theirs = torch_twin_results(net, torch.nn.Sequential(
        torch.nn.Linear(5, 4, bias=bias), torch.nn.ReLU(), torch.nn.Linear(4, 3)), x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(fused, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_fused_node_ends_in_relu_and_reads_the_linear_inputs() -> None:
    net, x = _net(True, False, np.float32), en.tensor(_input((3, 5), np.float32))
    x.requires_grad_()
    hidden = nn.Sequential(net[0], net[1])(x)
    assert hidden.grad_fn.name() == "ReluBackward0"
    assert [node.variable for node, _ in hidden.grad_fn.next_functions] == \
        [x, net[0].weight, net[0].bias]  # no AddmmBackward0 between
    with en.no_grad():
        quiet = net(x)
    assert quiet.grad_fn is None and np.array_equal(quiet.numpy(), net(x).detach().numpy())


def _unfused(out: en.Tensor) -> bool:
    """Whether out = Linear(ReLU(Linear(x))) has the separate ReLU and Addmm nodes."""
    relu = out.grad_fn.next_functions[0][0]
    return relu.name() == "ReluBackward0" and relu.next_functions[0][0].name() == "AddmmBackward0"


def test_pairs_with_hooks_subclasses_or_autocast_run_as_two_ops() -> None:
    x = en.tensor(_input((3, 5), np.float32), requires_grad=True)
    assert not _unfused(_net(True, False, np.float32)(x))

    seen = []
    hooked = _net(True, False, np.float32)
    hooked[0].register_forward_hook(lambda m, i, o: seen.append(o))
    assert _unfused(hooked(x)) and seen[0].grad_fn.name() == "AddmmBackward0"
    relu_hooked = _net(True, False, np.float32)
    relu_hooked[1].register_forward_pre_hook(lambda m, i: seen.append(i[0]))
    assert _unfused(relu_hooked(x)) and seen[1].grad_fn.name() == "AddmmBackward0"

    class Doubled(nn.Linear):
        def forward(self, input: en.Tensor) -> en.Tensor:  # noqa: A002
            return super().forward(input) * 2

    own = _net(True, False, np.float32)
    doubled = Doubled(5, 4)
    doubled.load_state_dict(own[0].state_dict())
    twice = nn.Sequential(doubled, nn.ReLU())(x)
    assert np.array_equal(twice.detach().numpy(), (own[0](x) * 2).relu().detach().numpy())

    casted = _net(True, False, np.float32)
    with en.autocast("cpu", dtype=en.bfloat16):  # autocast casts per op: Linear, then ReLU
        out = casted(x)
        apart = casted[2](casted[1](casted[0](x)))
    assert _names(out) == _names(apart) and _names(out).count("AddmmBackward0") == 2
    assert out.detach().numpy().tobytes() == apart.detach().numpy().tobytes()


def _names(out: en.Tensor) -> list[str]:
    """The names of every node below out, depth first."""
    names, stack = [], [out.grad_fn]
    while stack:
        node = stack.pop()
        names.append(node.name())
        stack += [child for child, _ in node.next_functions if child is not None]
    return names


def test_fused_pair_keeps_linear_errors_and_the_saved_value_check() -> None:
    net = _net(True, False, np.float32)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(2x6 and 5x4\)"):
        net(en.zeros(2, 6))
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype"):
        net(en.zeros(2, 5, dtype=en.float64))
    out = nn.Sequential(net[0], net[1])(en.ones(2, 5, requires_grad=True))
    with en.no_grad():
        net[0].weight.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_relu_gradient_passes_a_nan_and_stops_at_zeros_as_in_torch() -> None:
    values = [float("nan"), 1.5, -1.0, -0.0, 0.0]
    expected = [1.0, 1.0, 0.0, 0.0, 0.0]  # PyTorch's: its backward tests output <= 0
    for relu in (en.relu, nn.ReLU(), nn.ReLU(inplace=True)):
        x = en.tensor(values, requires_grad=True)
        relu(x * 1).sum().backward()
        assert x.grad.tolist() == expected
    net = nn.Sequential(nn.Linear(1, 5), nn.ReLU())  # fused: the NaN reaches the ReLU's input
    with en.no_grad():
        net[0].weight.copy_(en.ones(5, 1))
        net[0].bias.copy_(en.tensor(values))
    x = en.zeros(1, 1, requires_grad=True)
    out = net(x)
    assert out.grad_fn.name() == "ReluBackward0"
    out.sum().backward()
    assert net[0].bias.grad.tolist() == expected
    torch = pytest.importorskip("torch")
    t = torch.tensor(values, requires_grad=True)
    torch.relu(t * 1).sum().backward()
    assert t.grad.tolist() == expected
