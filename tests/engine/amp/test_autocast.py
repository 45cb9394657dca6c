"""autocast: which ops run in which dtype, casts in the graph, region rules, aliases and errors."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import function, nn
from engine.amp import policy


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _record_outputs(model: nn.Module) -> dict[str, str]:
    """{layer name: output dtype name}, filled by forward hooks as the model runs."""
    seen: dict[str, str] = {}
    for name, module in model.named_children():
        module.register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, o.dtype.name))
    return seen


def test_region_puts_each_op_in_its_dtype(backend: str) -> None:
    model = _mlp().to(backend)
    seen = _record_outputs(model)
    x, y = en.randn(4, 6, device=backend), en.tensor([0, 1, 2, 0], device=backend)
    device_type = "cpu" if backend == "cpu" else "cuda"
    with en.autocast(device_type, dtype=en.float16):
        logits = model(x)
        probs = F.softmax(logits, dim=1)
        logp = F.log_softmax(logits, dim=1)
        loss = F.cross_entropy(logits, y)
        mse = F.mse_loss(logits, en.zeros(4, 3, device=backend))
        normed = F.layer_norm(logits, (3,))
        total = logits.sum()
        mixed = logits + en.ones(4, 3, device=backend)  # float16 + float32
        product = x @ x.T
    assert seen == {"0": "float16", "1": "float16", "2": "float16"}
    assert (product.dtype, probs.dtype, logp.dtype) == (en.float16, en.float32, en.float32)
    assert (loss.dtype, mse.dtype, normed.dtype, total.dtype) == (en.float32,) * 4
    assert mixed.dtype == en.float32
    loss.backward()
    for p in model.parameters():
        assert p.dtype == en.float32 and p.grad.dtype == en.float32
    assert x.dtype == en.float32  # the input itself is not changed


def test_values_are_the_float16_computation() -> None:
    """A linear layer in a region gives the float16 result of float16-rounded inputs."""
    x, w, b = en.randn(5, 7), en.randn(4, 7, requires_grad=True), en.randn(4, requires_grad=True)
    with en.autocast("cpu", dtype=en.float16):
        out = F.linear(x, w, b)
    half = [t.detach().numpy().astype(np.float16) for t in (x, w, b)]
    expected = half[0] @ half[1].T + half[2]
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    out.backward(en.ones(5, 4))
    # the gradient is computed in float16 and handed back to the float32 leaf as float32
    g16 = np.ones((5, 4), np.float16)
    np.testing.assert_array_equal(w.grad.numpy(), (g16.T @ half[0]).astype(np.float32))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(4, 5.0, np.float32))


def test_graph_has_cast_nodes_back_to_float32() -> None:
    w = en.randn(3, 2, requires_grad=True)
    with en.autocast("cpu", dtype=en.float16):
        out = F.linear(en.randn(4, 2), w)
    assert out.grad_fn.name() == "AddmmBackward0"
    casts = [n for n, _ in out.grad_fn.next_functions if n is not None]
    assert [c.name() for c in casts] == ["ToCopyBackward0"]
    assert casts[0].next_functions[0][0].variable is w


def test_outside_a_region_nothing_is_cast() -> None:
    with en.autocast("cpu", dtype=en.float16):
        pass
    assert function.autocast_hook is None
    out = F.linear(en.randn(2, 3), en.randn(4, 3))
    assert out.dtype == en.float32
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype"):
        F.linear(en.randn(2, 3).half(), en.randn(4, 3))


def test_only_tensors_of_the_region_device_type_are_cast() -> None:
    # A CUDA region, opened by hand so that it exists without a GPU: CPU tensors stay float32.
    from engine.amp import autocast_mode as am

    region = en.autocast("cpu", dtype=en.float16)
    with region:
        am._local.modes["cuda"] = am._local.modes.pop("cpu")
        try:
            assert en.is_autocast_enabled("cuda") and not en.is_autocast_enabled("cpu")
            out = F.linear(en.randn(2, 3), en.randn(4, 3))
        finally:
            am._local.modes["cpu"] = am._local.modes.pop("cuda")
    assert out.dtype == en.float32
    if en.cuda.is_available():
        with en.autocast("cuda"):
            assert F.linear(en.randn(2, 3), en.randn(4, 3)).dtype == en.float32
            assert F.linear(en.randn(2, 3, device="cuda"),
                            en.randn(4, 3, device="cuda")).dtype == en.float16


def test_float64_and_integer_inputs_are_left_alone() -> None:
    a = en.randn(3, 3, dtype=en.float64)
    idx = en.tensor([0, 2])
    with en.autocast("cpu", dtype=en.float16):
        assert (a @ a).dtype == en.float64
        assert F.embedding(idx, en.randn(4, 2)).dtype == en.float32


def test_nested_regions_and_enabled_false() -> None:
    x, w = en.randn(2, 3), en.randn(4, 3)
    with en.autocast("cpu", dtype=en.float16):
        with en.autocast("cpu", enabled=False):
            assert not en.is_autocast_enabled("cpu")
            assert F.linear(x, w).dtype == en.float32
        with en.autocast("cpu", dtype=en.bfloat16):
            assert en.get_autocast_dtype("cpu") is en.bfloat16
        assert en.get_autocast_dtype("cpu") == en.float16
        assert F.linear(x, w).dtype == en.float16
    assert not en.is_autocast_enabled("cpu")
    assert en.get_autocast_dtype("cpu") is en.bfloat16  # PyTorch's CPU default
    assert en.get_autocast_dtype("cuda") == en.float16


def test_decorator_runs_the_function_in_a_region() -> None:
    @en.autocast("cpu", dtype=en.float16)
    def forward(x: en.Tensor, w: en.Tensor) -> tuple[en.Tensor, bool]:
        return F.linear(x, w), en.is_autocast_enabled("cpu")

    out, inside = forward(en.randn(2, 3), en.randn(4, 3))
    assert (out.dtype, inside, en.is_autocast_enabled("cpu")) == (en.float16, True, False)


def test_cache_casts_a_parameter_once_per_region() -> None:
    layer = nn.Linear(3, 3)
    with en.autocast("cpu", dtype=en.float16):
        a, b = layer(en.randn(2, 3)), layer(en.randn(2, 3))
    cast_a = a.grad_fn.next_functions[1][0]
    cast_b = b.grad_fn.next_functions[1][0]
    assert cast_a is cast_b  # one ToCopy node of the weight serves both uses
    (a.float().sum() + b.float().sum()).backward()
    assert layer.weight.grad.dtype == en.float32
    with en.autocast("cpu", dtype=en.float16, cache_enabled=False):
        a, b = layer(en.randn(2, 3)), layer(en.randn(2, 3))
    assert a.grad_fn.next_functions[1][0] is not b.grad_fn.next_functions[1][0]


def test_cache_sees_in_place_updates_and_freed_graphs() -> None:
    layer = nn.Linear(2, 2, bias=False)
    opt = en.optim.SGD(layer.parameters(), lr=0.5)
    x = en.ones(1, 2)
    with en.autocast("cpu", dtype=en.float16):
        for _ in range(2):  # two steps inside one region: the second must see the new weight
            out = layer(x)
            opt.zero_grad()
            out.float().sum().backward()
            expected = x.numpy().astype(np.float16) @ layer.weight.detach().numpy().T.astype(
                np.float16)
            np.testing.assert_array_equal(out.detach().numpy(), expected)
            opt.step()


def test_regions_are_per_thread() -> None:
    seen = []

    def other() -> None:
        seen.append((en.is_autocast_enabled("cpu"), F.linear(en.randn(2, 3),
                                                             en.randn(4, 3)).dtype))

    with en.autocast("cpu", dtype=en.float16):
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
    assert seen == [(False, en.float32)]


def test_rnn_and_conv_accept_float16_inputs_inside_a_region() -> None:
    lstm, conv = nn.LSTM(4, 5), nn.Conv2d(2, 3, 3)
    with en.autocast("cpu", dtype=en.float16):
        out, (h, c) = lstm(en.randn(3, 2, 4).half())
        image = conv(en.randn(1, 2, 5, 5).half())
    assert (out.dtype, h.dtype, c.dtype, image.dtype) == (en.float16,) * 4
    for cell in (nn.RNNCell(4, 5), nn.LSTMCell(4, 5), nn.GRUCell(4, 5)):
        with en.autocast("cpu", dtype=en.float16):
            state = cell(en.randn(2, 4))
        first = state[0] if isinstance(state, tuple) else state
        assert first.dtype == en.float16, type(cell).__name__
        first.float().sum().backward()
        assert {p.grad.dtype for p in cell.parameters()} == {en.float32}
    with pytest.raises(ValueError, match="RNN input dtype"):
        lstm(en.randn(3, 2, 4).half())
    with pytest.raises(RuntimeError, match=r"Input type \(float16\) and weight type"):
        conv(en.randn(1, 2, 5, 5).half())


def test_policy_lists_name_real_ops() -> None:
    rules = policy.rules()
    assert {"Linear", "MatMul", "Conv2d", "LSTMSequence"} <= set(policy.op_names(policy.LOWER))
    assert {"Softmax", "LogSoftmax", "CrossEntropy", "MSELoss", "LayerNorm", "Sum", "Exp"} <= set(
        policy.op_names(policy.FP32))
    assert len(rules) == sum(len(policy.op_names(r)) for r in (policy.LOWER, policy.FP32,
                                                                policy.PROMOTE))


def test_bad_arguments_are_refused_or_disable_with_a_warning() -> None:
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        en.autocast(en.device("cpu"))
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'tpu'"):
        en.autocast("tpu")
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        region = en.autocast("cpu", dtype=en.float64)
    with region:
        assert not en.is_autocast_enabled("cpu")
    if not en.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available. Disabling"):
            en.autocast("cuda")


def test_names_at_every_place_scripts_use() -> None:
    assert en.autocast is en.amp.autocast
    assert en.GradScaler is en.amp.GradScaler
    assert en.is_autocast_available("cuda") and not en.is_autocast_available("xpu")
    from engine.cuda.amp import GradScaler, autocast

    with pytest.warns(FutureWarning, match=r"engine.cuda.amp.autocast\(args...\)` is deprecated"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            region = autocast(dtype=en.float16)
    assert isinstance(region, en.amp.autocast) and region.device == "cuda"
    with pytest.warns(FutureWarning, match="GradScaler"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            scaler = GradScaler(init_scale=8.0)
    assert isinstance(scaler, en.amp.GradScaler)
    assert scaler.is_enabled() == en.cuda.is_available()


def test_bfloat16_tensors_cannot_be_made() -> None:
    with pytest.raises(TypeError, match="engine.bfloat16 has no array type"):
        en.zeros(2, dtype=en.bfloat16)
    with pytest.raises(TypeError, match="only emulated inside autocast"):
        en.ones(2).to(en.bfloat16)
    assert en.bfloat16 != en.float32 and en.float32 != en.bfloat16
    assert en.bfloat16.is_floating_point and en.bfloat16.itemsize == 2
