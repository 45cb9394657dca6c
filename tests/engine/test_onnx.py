"""engine.onnx.export (PyTorch's signature): a small MLP runs in onnxruntime with equal outputs."""

from __future__ import annotations

import io

import numpy as np
import pytest

import engine as en
from engine import nn

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _mlp() -> nn.Module:
    en.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))


def _run(model_bytes: bytes, x: np.ndarray, name: str | None = None) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name = name or session.get_inputs()[0].name
    return session.run(None, {name: x})[0]


def test_export_mlp_to_path_and_run(tmp_path):
    model = _mlp()
    x = en.randn(4, 3, 4)
    path = tmp_path / "mlp.onnx"
    assert en.onnx.export(model, (x,), path, input_names=["pixels"], output_names=["logits"],
                          dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=17) is None
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["pixels"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert proto.opset_import[0].version == 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    with en.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run(path.read_bytes(), x.numpy(), "pixels"), expected,
                               rtol=1e-5, atol=1e-6)
    bigger = en.randn(7, 3, 4)  # the batch axis is dynamic
    with en.no_grad():
        np.testing.assert_allclose(_run(path.read_bytes(), bigger.numpy()),
                                   model(bigger).numpy(), rtol=1e-5, atol=1e-6)


def test_export_to_file_object_with_static_shapes():
    model = _mlp()
    x = en.randn(2, 12)
    buffer = io.BytesIO()
    en.onnx.export(model, x, buffer)
    proto = onnx.load_from_string(buffer.getvalue())
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 12]  # no dynamic_axes: the example's shape, as PyTorch
    with en.no_grad():
        np.testing.assert_allclose(_run(buffer.getvalue(), x.numpy()), model(x).numpy(),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="(?i)dimension|shape|got"):
        _run(buffer.getvalue(), np.zeros((5, 12), np.float32))


def test_export_keeps_training_mode_and_list_form_of_dynamic_axes():
    model = _mlp().train()
    buffer = io.BytesIO()
    en.onnx.export(model, (en.randn(2, 12), {}), buffer, input_names=["x"],
                   dynamic_axes={"x": [0]})
    assert model.training
    proto = onnx.load_from_string(buffer.getvalue())
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "x_dynamic_axes_1"


def test_export_errors():
    model = _mlp()
    x = en.randn(2, 12)
    with pytest.raises(en.ExportError, match="opset_version=13: this exporter writes opset 17"):
        en.onnx.export(model, x, io.BytesIO(), opset_version=13)
    with pytest.raises(en.ExportError, match="one input tensor; args has 2 items"):
        en.onnx.export(model, (x, x), io.BytesIO())
    with pytest.raises(en.ExportError, match="only axis 0"):
        en.onnx.export(model, x, io.BytesIO(), input_names=["x"], dynamic_axes={"x": {1: "f"}})
    with pytest.raises(en.ExportError, match="not inputs or outputs"):
        en.onnx.export(model, x, io.BytesIO(), dynamic_axes={"nope": {0: "b"}})
    with pytest.raises(en.ExportError, match="input_names has 2 names"):
        en.onnx.export(model, x, io.BytesIO(), input_names=["a", "b"])
