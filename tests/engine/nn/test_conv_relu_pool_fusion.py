"""Sequential's Conv2d, ReLU, MaxPool2d(2) runs as one node (ops.conv_pool.ConvReluPool):
bitwise the three ops' values and gradients, PyTorch's within rounding, and left unfused wherever
fusing could be seen."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import torch_twin_results

import engine as en
from engine import nn
from engine.ops import jit

pytest.importorskip("numba")

# (in channels, image side, conv options): 16 channels take the large GEMM and its (C, N, H, W)
# output; 1 channel the per-image GEMMs; 9x9 with no padding leaves a 7x7 output, whose last row
# and column no tile reaches; stride 2 and groups take their own column paths.
CASES = {
    "large-gemm": (16, 8, {"padding": 1}),
    "per-image": (1, 8, {"padding": 1}),
    "odd-output": (16, 9, {}),
    "strided": (16, 10, {"stride": 2, "padding": 1}),
    "groups": (16, 8, {"padding": 1, "groups": 2}),
}


def _net(channels: int, options: dict, bias: bool, inplace: bool, dtype: type) -> nn.Sequential:
    en.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(channels, 6, 3, bias=bias, **options), nn.ReLU(inplace=inplace),
                        nn.MaxPool2d(2), nn.Flatten())
    return net.to(dtype=en.float64) if dtype == np.float64 else net


def _input(channels: int, side: int, dtype: type, nan: bool = False) -> np.ndarray:
    x = np.random.default_rng(1).standard_normal((3, channels, side, side)).astype(dtype)
    x[0] = 0  # an image whose pre-activations are the biases alone: ties and all-zero tiles
    if nan:
        x[1, 0, 2, 3] = np.nan
    return x


def _grads(net: nn.Sequential, x: np.ndarray, fused: bool, x_grad: bool = True) -> list:
    """Output, input gradient (where asked) and parameter gradients, through Sequential (fused)
    or calling the layers one by one (never fused)."""
    t = en.tensor(x, requires_grad=x_grad)
    out = net(t) if fused else net[3](net[2](net[1](net[0](t))))
    weights = np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(x.dtype)
    (out * en.tensor(weights)).sum().backward()
    values = [out.detach().numpy()] + ([t.grad.numpy()] if x_grad else [])
    values += [p.grad.numpy() for p in net.parameters()]
    net.zero_grad()
    return values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", list(CASES))
def test_fused_run_is_bitwise_the_three_ops_and_matches_torch(dtype: type, bias: bool,
                                                              case: str) -> None:
    channels, side, options = CASES[case]
    net, x = _net(channels, options, bias, False, dtype), _input(channels, side, dtype)
    assert _is_fused(net, x)
    fused, apart = _grads(net, x, True), _grads(net, x, False)
    for a, b in zip(fused, apart, strict=True):
        assert a.dtype == dtype and a.tobytes() == b.tobytes()
    assert (fused[0] != 0).any() and (fused[1] != 0).any()
    torch = pytest.importorskip("torch")
    theirs = torch_twin_results(net, torch.nn.Sequential(
        torch.nn.Conv2d(channels, 6, 3, bias=bias, **options), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten()), x)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for a, b in zip(fused, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", ["large-gemm", "per-image"])
def test_first_layers_inplace_relus_and_nans_fuse_bitwise_too(case: str) -> None:
    channels, side, options = CASES[case]
    net = _net(channels, options, True, True, np.float32)
    x = _input(channels, side, np.float32, nan=True)
    assert _is_fused(net, x)
    fused, apart = _grads(net, x, True, x_grad=False), _grads(net, x, False, x_grad=False)
    assert np.isnan(fused[0]).any()
    for a, b in zip(fused, apart, strict=True):
        assert a.tobytes() == b.tobytes()


def _is_fused(net: nn.Sequential, x: np.ndarray) -> bool:
    """Whether the net's Conv2d, ReLU, MaxPool2d ran as one node on x."""
    pooled = nn.Sequential(net[0], net[1], net[2])(en.tensor(x, requires_grad=True))
    children = [node for node, _ in pooled.grad_fn.next_functions if node is not None]
    return pooled.grad_fn.name() == "MaxPool2DWithIndicesBackward0" and all(
        node.name() == "AccumulateGrad" for node in children)


def test_fused_node_reads_the_conv_inputs_and_gives_a_contiguous_output() -> None:
    net = _net(16, {"padding": 1}, True, False, np.float32)
    x = en.tensor(_input(16, 8, np.float32), requires_grad=True)
    pooled = nn.Sequential(net[0], net[1], net[2])(x)
    assert [node.variable for node, _ in pooled.grad_fn.next_functions] == \
        [x, net[0].weight, net[0].bias]
    assert pooled.shape == (3, 6, 4, 4) and pooled.is_contiguous()
    assert pooled.view(3, -1).shape == (3, 96)  # a view needs (N, C, H, W) memory, as in torch
    with en.no_grad():
        quiet = net(x)
    assert quiet.grad_fn is None and np.array_equal(quiet.numpy(), net(x).detach().numpy())
    readonly = np.ones(pooled.shape, np.float32)
    readonly.flags.writeable = False  # a gradient the kernel can't take is copied, not refused
    pooled.backward(en.from_numpy(readonly))
    assert x.grad.shape == x.shape and (x.grad.numpy() != 0).any()


def test_runs_with_hooks_indices_other_pools_subclasses_or_autocast_stay_apart() -> None:
    x = _input(16, 8, np.float32)

    def variant(change: callable) -> nn.Sequential:
        net = _net(16, {"padding": 1}, True, False, np.float32)
        change(net)
        return net

    seen: list = []
    for net in (variant(lambda n: n[0].register_forward_hook(lambda m, i, o: seen.append(o))),
                variant(lambda n: n[1].register_forward_pre_hook(lambda m, i: seen.append(1))),
                variant(lambda n: n[2].register_forward_hook(lambda m, i, o: seen.append(2))),
                variant(lambda n: setattr(n[2], "ceil_mode", True)),
                variant(lambda n: setattr(n[2], "kernel_size", 3))):
        assert not _is_fused(net, x)
    assert seen[0].grad_fn.name() == "ConvolutionBackward0"

    class Shifted(nn.Conv2d):
        def forward(self, input: en.Tensor) -> en.Tensor:  # noqa: A002
            return super().forward(input) - 1

    plain = _net(16, {"padding": 1}, True, False, np.float32)
    shifted = Shifted(16, 6, 3, padding=1)
    shifted.load_state_dict(plain[0].state_dict())
    own = nn.Sequential(shifted, nn.ReLU(), nn.MaxPool2d(2))(en.tensor(x)).detach().numpy()
    expected = nn.functional.max_pool2d((plain[0](en.tensor(x)) - 1).relu(), 2).detach().numpy()
    assert np.array_equal(own, expected)

    with en.autocast("cpu", dtype=en.bfloat16):  # autocast casts per op
        assert not _is_fused(plain, x)
    jit.set_enabled(False)
    try:  # the 2x2 pooling kernels are what fusing needs
        assert not _is_fused(plain, x)
    finally:
        jit.set_enabled(True)


def test_fused_run_keeps_conv_errors_and_the_saved_value_check() -> None:
    net = _net(16, {"padding": 1}, True, False, np.float32)
    with pytest.raises(RuntimeError, match="expected input.*to have 16 channels, but got 3"):
        net(en.zeros(2, 3, 8, 8))
    with pytest.raises(RuntimeError, match=r"Input type \(float64\) and weight type \(float32\)"):
        net(en.zeros(2, 16, 8, 8, dtype=en.float64))
    out = net(en.ones(2, 16, 8, 8, requires_grad=True))
    with en.no_grad():
        net[0].weight.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
