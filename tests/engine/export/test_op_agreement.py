"""Every registered export op: engine eval, the script runner and onnxruntime agree to 1e-6.

Each case is a small model built from one op (or one variant of it); the last test checks that the
cases cover every op in the registry, so a new op comes with its case here.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.export as ex
import engine.nn.functional as F
from engine import nn
from engine.export.ops import OPS

TOL = 1e-6


class Fn(nn.Module):
    """A module whose forward is the given function of its input."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


IMG = (2, 7, 6)  # (C, H, W) of the image cases
CASES = {
    "linear": (lambda: nn.Linear(6, 4), (6,)),
    "linear_3d_no_bias": (lambda: nn.Linear(6, 4, bias=False), (3, 6)),
    "matmul": (lambda: Fn(lambda x: x @ x.transpose(1, 2)), (3, 4)),
    "conv2d": (lambda: nn.Conv2d(2, 4, 3), IMG),
    "conv2d_strided_dilated_grouped": (
        lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), (4, 9, 8)),
    "conv2d_same_no_bias": (lambda: nn.Conv2d(2, 3, 4, padding="same", bias=False), IMG),
    "max_pool2d_ceil_padded": (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), IMG),
    "max_pool2d_dilated": (lambda: nn.MaxPool2d(2, 1, dilation=2), IMG),
    "avg_pool2d_ceil_exclude_pad": (
        lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), IMG),
    "avg_pool2d_include_pad": (lambda: nn.AvgPool2d(2, padding=1), IMG),
    "adaptive_avg_pool2d_global": (lambda: nn.AdaptiveAvgPool2d(1), IMG),
    "adaptive_avg_pool2d_tiles": (lambda: nn.AdaptiveAvgPool2d((7, 3)), IMG),
    "adaptive_avg_pool2d_bins": (lambda: nn.AdaptiveAvgPool2d((3, 4)), IMG),
    "batch_norm_folded": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)), IMG),
    "batch_norm2d": (lambda: nn.BatchNorm2d(2), IMG),
    "batch_norm1d_no_affine": (lambda: nn.BatchNorm1d(5, affine=False), (5,)),
    "relu": (nn.ReLU, (5,)),
    "relu_fused": (lambda: nn.Sequential(nn.Linear(5, 5), nn.ReLU()), (5,)),
    "sigmoid": (nn.Sigmoid, (5,)),
    "tanh": (nn.Tanh, (5,)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (5,)),
    "gelu": (nn.GELU, (5,)),
    "gelu_tanh": (lambda: nn.GELU("tanh"), (5,)),
    "hardswish": (nn.Hardswish, (5,)),
    "hardswish_functional": (lambda: Fn(lambda x: F.hardswish(x * 3.0)), (5,)),
    "elu": (lambda: nn.ELU(0.7), (5,)),
    "selu": (nn.SELU, (5,)),
    "celu": (lambda: nn.CELU(1.3), (5,)),
    "softmax": (lambda: nn.Softmax(dim=1), (3, 4)),
    "log_softmax_implicit_dim": (nn.LogSoftmax, (5,)),
    "add_sub_mul_div": (lambda: Fn(lambda x: ((x + 0.5) * x - 0.25) / (x * x + 1.0)), (5,)),
    "reshape": (lambda: Fn(lambda x: x.reshape(x.shape[0], 3, -1)), (2, 6)),
    "flatten": (nn.Flatten, IMG),
    "transpose": (lambda: Fn(lambda x: x.permute(0, 2, 1)), (3, 4)),
    "cat": (lambda: Fn(lambda x: en.cat([x, x * 2.0], dim=1)), (3, 4)),
    "mean": (lambda: Fn(lambda x: x.mean((1,), keepdim=True)), (3, 4)),
}


def _build(name: str) -> tuple[nn.Module, np.ndarray]:
    make, shape = CASES[name]
    en.manual_seed(0)
    model = make()
    model.train()
    with en.no_grad():  # batch norm cases get running statistics that are not the defaults
        model(en.randn(8, *shape) * 1.5 + 0.3)
    model.eval()
    return model, np.random.default_rng(0).standard_normal((5, *shape)).astype(np.float32) * 2


def _engine(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with en.no_grad():
        return model(en.tensor(x)).numpy()


@pytest.mark.parametrize("name", sorted(CASES))
def test_script_runner_matches_engine(name, tmp_path):
    model, x = _build(name)
    expected = _engine(model, x)
    run = ex.load(ex.export(model, en.tensor(x[:2]), tmp_path / "m.safetensors"))
    np.testing.assert_allclose(run(x), expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_onnxruntime_matches_engine(name):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model, x = _build(name)
    proto = ex.to_onnx(ex.trace(model, en.tensor(x[:2])))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], _engine(model, x), atol=TOL,
                               rtol=0)


def test_cases_cover_every_registered_op():
    covered = set()
    for name in CASES:
        model, x = _build(name)
        covered |= {n["op"] for n in ex.trace(model, en.tensor(x[:2])).graph["nodes"]}
    assert covered == set(OPS)


def test_gelu_of_script_runner_is_the_engine_op_bit_for_bit():
    x = np.linspace(-6, 6, 2001, dtype=np.float32).reshape(1, -1)
    model = nn.GELU()
    run = ex.trace(model, en.tensor(x)).module()
    np.testing.assert_array_equal(run(x), _engine(model, x))


def test_elu_with_other_constants_is_composed_in_onnx():
    """A file may hold elu attributes no layer traces to: ONNX composes them from primitives."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    prog = ex.trace(nn.ELU(0.7), en.zeros(2, 5))
    prog.graph["nodes"][0]["attrs"].update(scale=1.5, input_scale=0.5)
    x = np.linspace(-4, 4, 40, dtype=np.float32).reshape(8, 5)
    session = ort.InferenceSession(ex.to_onnx(prog).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    expected = np.where(x > 0, 1.5 * x, 1.5 * 0.7 * (np.exp(0.5 * x) - 1))
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, atol=TOL, rtol=0)
    np.testing.assert_allclose(prog.module()(x), expected, atol=TOL, rtol=0)


def test_registry_refuses_a_second_entry_for_an_op_or_a_function_class():
    from engine.export.registry import TRACED, register, trace_as
    from engine.ops.elementwise import Relu

    before = (dict(OPS), dict(TRACED))
    with pytest.raises(ValueError, match="export op 'relu' is registered twice"):
        register(OPS["relu"])
    with pytest.raises(ValueError, match="Relu is traced by two export recorders"):
        trace_as(lambda *args: None, Relu)
    assert (OPS, TRACED) == before
