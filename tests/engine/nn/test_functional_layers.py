"""Fused layer ops (linear, conv2d, pooling, activations, dropout): values and gradients vs
PyTorch, float64 gradcheck and NumPy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import check_op

import engine as en
import engine.nn.functional as F
from engine.ops.activation import erf

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the checks below still run gradcheck and NumPy references
    torch = TF = None


def both(engine_fn, torch_fn):  # noqa: ANN001, ANN201 - tiny adapter
    """Two lambdas as check_op's engine_fn/torch_fn pair."""
    return {"engine_fn": engine_fn, "torch_fn": torch_fn}


@pytest.mark.parametrize("shapes", [((4, 3), (5, 3), (5,)), ((2, 3, 4), (2, 4), (2,)),
                                    ((3,), (2, 3), (2,))], ids=str)
def test_linear(shapes: tuple, backend: str) -> None:
    check_op(shapes, **both(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: TF.linear(x, w, b)),
             numpy_fn=lambda x, w, b: x @ w.T + b, device=backend)


def test_linear_without_bias_and_first_layer_skips_input_grad() -> None:
    check_op([(4, 3), (2, 3)], **both(F.linear, TF and TF.linear), numpy_fn=lambda x, w: x @ w.T)
    x = en.randn(4, 3)
    w = en.randn(2, 3, requires_grad=True)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-5)


def test_linear_shape_error_names_both_shapes() -> None:
    with pytest.raises(RuntimeError, match=r"4x3 and 5x2"):
        F.linear(en.randn(4, 3), en.randn(2, 5))


CONV_CASES = [
    # x shape, weight shape, stride, padding, dilation, groups
    ((1, 2, 5, 5), (3, 2, 3, 3), 1, 1, 1, 1),
    ((2, 2, 6, 5), (2, 2, 2, 3), 2, (1, 0), 1, 1),
    ((1, 4, 5, 5), (4, 2, 3, 3), 1, 0, 1, 2),
    ((1, 1, 7, 6), (2, 1, 3, 2), (2, 1), 2, (2, 1), 1),
    ((1, 2, 5, 4), (2, 2, 2, 3), 1, "same", 1, 1),
    ((1, 2, 5, 4), (2, 2, 3, 3), 1, "valid", 1, 1),
]


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d(case: tuple, backend: str) -> None:
    xs, ws, stride, padding, dilation, groups = case
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    check_op([xs, ws, (ws[0],)], **both(lambda x, w, b: F.conv2d(x, w, b, **kw),
                                        lambda x, w, b: TF.conv2d(x, w, b, **kw)),
             device=backend, atol=1e-5, grad_atol=2e-4)


def test_conv2d_unbatched_and_channel_error() -> None:
    check_op([(2, 4, 4), (3, 2, 3, 3)], **both(lambda x, w: F.conv2d(x, w, padding=1),
                                               lambda x, w: TF.conv2d(x, w, padding=1)))
    with pytest.raises(RuntimeError, match="to have 2 channels, but got 3 channels"):
        F.conv2d(en.randn(1, 3, 5, 5), en.randn(4, 2, 3, 3))


def test_conv2d_matches_direct_numpy_loop() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    out = F.conv2d(en.tensor(x), en.tensor(w), stride=(2, 1), padding=1).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros(out.shape)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = xp[:, :, 2 * i:2 * i + 3, j:j + 2]
            ref[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    np.testing.assert_allclose(out, ref, atol=1e-12)


POOL_CASES = [
    # kernel, stride, padding, dilation, ceil_mode, input shape
    (2, None, 0, 1, False, (2, 3, 4, 6)),  # tiling fast path
    (2, None, 0, 1, False, (1, 2, 5, 5)),  # tiling with a cropped edge
    (3, 2, 1, 1, False, (1, 2, 5, 6)),
    (2, 1, 0, 2, False, (1, 1, 5, 5)),
    (3, 2, 0, 1, True, (1, 2, 6, 6)),
    ((2, 3), (1, 2), (1, 1), 1, False, (1, 2, 4, 5)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool2d(case: tuple, backend: str) -> None:
    k, s, p, d, ceil, shape = case
    check_op([shape], **both(lambda x: F.max_pool2d(x, k, s, p, d, ceil),
                             lambda x: TF.max_pool2d(x, k, s, p, d, ceil)), device=backend)


def test_max_pool2d_ties_send_gradient_to_first_maximum() -> None:
    # After a ReLU whole windows are 0: PyTorch gives the whole gradient to one element.
    data = np.zeros((1, 1, 4, 4), dtype=np.float32)
    data[0, 0, 0, 1] = data[0, 0, 1, 0] = 1.0  # a tie inside the first window too
    x = en.tensor(data, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 1] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1.0
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)
    y = en.tensor(data, requires_grad=True)
    F.max_pool2d(y, 3, 1, 1).sum().backward()
    if torch is not None:
        t = torch.tensor(data, requires_grad=True)
        TF.max_pool2d(t, 3, 1, 1).sum().backward()
        np.testing.assert_array_equal(y.grad.numpy(), t.grad.numpy())


AVG_CASES = [
    (2, None, 0, False, True, (2, 3, 4, 6)),
    (3, 2, 1, False, True, (1, 2, 5, 6)),
    (3, 2, 1, False, False, (1, 2, 5, 6)),
    (3, 2, 1, True, True, (1, 2, 6, 6)),
]


@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_avg_pool2d(case: tuple, backend: str) -> None:
    k, s, p, ceil, incl, shape = case
    check_op([shape], **both(lambda x: F.avg_pool2d(x, k, s, p, ceil, incl),
                             lambda x: TF.avg_pool2d(x, k, s, p, ceil, incl)), device=backend)


@pytest.mark.parametrize("size", [1, (2, 3), (3, 2), (None, 2), (3, 5)], ids=str)  # (3, 5) tiles
def test_adaptive_avg_pool2d(size: object, backend: str) -> None:
    check_op([(2, 2, 6, 5)], **both(lambda x: F.adaptive_avg_pool2d(x, size),
                                    lambda x: TF.adaptive_avg_pool2d(x, size)), device=backend)


@pytest.mark.parametrize("size", [1, (2, 5), (4, 3)], ids=str)
def test_adaptive_avg_pool2d_and_flatten_node_names_match_torch(size: object) -> None:
    torch = pytest.importorskip("torch")
    x = en.randn(1, 2, 4, 5, requires_grad=True)
    t = torch.randn(1, 2, 4, 5, requires_grad=True)
    ours = F.adaptive_avg_pool2d(x, size)
    assert ours.grad_fn.name() == TF.adaptive_avg_pool2d(t, size).grad_fn.name()
    assert ours.flatten(1).grad_fn.name() == "ViewBackward0" == t.flatten(1).grad_fn.name()


ACTIVATIONS = {
    "relu": (F.relu, TF and TF.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), TF and (lambda x: TF.leaky_relu(x, 0.2))),
    "gelu": (F.gelu, TF and TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  TF and (lambda x: TF.gelu(x, approximate="tanh"))),
    "sigmoid": (F.sigmoid, TF and torch.sigmoid),
    "tanh": (F.tanh, TF and torch.tanh),
    "softmax": (lambda x: F.softmax(x, dim=1), TF and (lambda x: TF.softmax(x, dim=1))),
    "log_softmax": (lambda x: F.log_softmax(x, dim=-1),
                    TF and (lambda x: TF.log_softmax(x, dim=-1))),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation(name: str, backend: str) -> None:
    ours, theirs = ACTIVATIONS[name]
    check_op([(3, 5)], **both(ours, theirs), low=-4, high=4, device=backend)


def test_gelu_matches_exact_formula_in_float64() -> None:
    x = np.linspace(-7, 7, 301)
    ref = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(F.gelu(en.tensor(x)).numpy(), ref, atol=1e-14)
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], atol=1e-14)


def test_dropout_follows_manual_seed_and_scales() -> None:
    x = en.ones(200, 50, requires_grad=True)
    en.manual_seed(3)
    a = F.dropout(x, 0.25)
    en.manual_seed(3)
    b = F.dropout(x, 0.25)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    values = set(np.unique(a.detach().numpy()).tolist())
    assert values <= {0.0, np.float32(1 / 0.75)}
    assert abs((a.detach().numpy() == 0).mean() - 0.25) < 0.02
    a.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), a.detach().numpy())  # grad = mask / (1 - p)
    assert F.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).detach().numpy(), 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_one_hot_flatten_pad() -> None:
    oh = F.one_hot(en.tensor([0, 2, 1]), 4)
    assert oh.dtype == en.int64
    np.testing.assert_array_equal(oh.numpy(), np.eye(4, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(en.tensor([[1], [3]])).shape == (2, 1, 4)
    assert F.flatten(en.zeros(2, 3, 4), 1).shape == (2, 12)
    assert F.pad(en.zeros(1, 2, 3), (1, 1, 2, 0)).shape == (1, 4, 5)
