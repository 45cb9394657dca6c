"""Acceptance: zoo models and a user model exported to script and ONNX match the engine's eval.

The script file is run in a fresh process that has deleted the user model's source and imports
only numpy and engine.export, so the file alone must carry everything.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine as en
import engine.export as ex

USER_MODEL = '''
import engine.nn.functional as F
from engine import nn


class ResidualNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        h = self.act(self.bn1(self.conv1(x)))
        h = h + self.bn2(self.conv2(h))  # residual add
        h = self.pool(F.relu(h))
        return self.fc(self.drop(h.view(h.size(0), -1)))
'''

CHILD = '''
import sys
import numpy as np
import engine.export
x = np.load(sys.argv[1])
for i, path in enumerate(sys.argv[3:]):
    run = engine.export.load(path)
    expected = np.load(f"{sys.argv[2]}{i}.npy")
    diff = float(np.abs(run(x) - expected).max())
    assert diff <= 1e-5, (path, diff)
    print(path, diff)
leaked = [m for m in ("trainer", "datasets", "user_model_export") if m in sys.modules]
assert not leaked, leaked
print("OK")
'''


def _warm(model):
    """A few training-mode passes so batch-norm running statistics are not the defaults."""
    model.train()
    with en.no_grad():
        for _ in range(3):
            model(en.randn(16, 1, 28, 28) * 1.5 + 0.3)
    model.eval()
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (model, module file or None); the user model lives in a temporary module."""
    zoo = pytest.importorskip("trainer.zoo")
    folder = tmp_path_factory.mktemp("usermod")
    (folder / "user_model_export.py").write_text(USER_MODEL)
    sys.path.insert(0, str(folder))
    try:
        user = importlib.import_module("user_model_export")
    finally:
        sys.path.remove(str(folder))
    en.manual_seed(0)
    out = {"mlp": _warm(zoo.MLP(hidden=[64, 32], dropout=0.2)),
           "cnn": _warm(zoo.SmallCNN()),
           "user": _warm(user.ResidualNet())}
    yield out, folder
    sys.modules.pop("user_model_export", None)


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(0).standard_normal((100, 1, 28, 28)).astype(np.float32)


def _eval(model, x):
    with en.no_grad():
        return model(en.tensor(x)).numpy()


def test_script_runs_in_fresh_process_without_model_code(models, inputs, tmp_path):
    built, folder = models
    paths = []
    np.save(tmp_path / "x.npy", inputs)
    for i, (name, model) in enumerate(built.items()):
        paths.append(str(ex.export(model, en.zeros(2, 1, 28, 28), tmp_path / f"{name}.st")))
        np.save(tmp_path / f"expected{i}.npy", _eval(model, inputs))
    (folder / "user_model_export.py").unlink()
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "x.npy"), str(tmp_path / "expected"),
         *paths], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        # this checkout's engine, not whichever one the environment has installed
        env={**os.environ, "PYTHONPATH": str(Path(en.__file__).parents[1])})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("OK")


@pytest.mark.parametrize("name", ["mlp", "cnn", "user"])
def test_onnx_matches_in_onnxruntime(models, inputs, name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    model = models[0][name]
    path = tmp_path / f"{name}.onnx"
    ex.export(model, en.zeros(1, 1, 28, 28), path, format="onnx")
    proto = onnx.load(str(path))
    assert proto.ir_version == 10 and proto.opset_import[0].version == 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": inputs})[0]
    np.testing.assert_allclose(out, _eval(model, inputs), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["mlp", "cnn", "user"])
def test_engine_script_and_onnxruntime_agree_to_1e6(models, inputs, name):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = models[0][name]
    prog = ex.trace(model, en.zeros(2, 1, 28, 28))
    session = ort.InferenceSession(ex.to_onnx(prog).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    expected = _eval(model, inputs)
    script = prog.module()(inputs)
    onnx_out = session.run(None, {"input": inputs})[0]
    np.testing.assert_allclose(script, expected, atol=1e-6, rtol=0)
    # onnxruntime's own GEMM and conv kernels round differently (measured under 8e-7 here)
    np.testing.assert_allclose(onnx_out, expected, atol=1e-6, rtol=1e-6)


def test_batch_norm_is_kept_in_file_and_folded_at_load(models, inputs, tmp_path):
    model = models[0]["user"]
    prog = ex.trace(model, en.zeros(2, 1, 28, 28))
    ops = [n["op"] for n in prog.graph["nodes"]]
    assert ops.count("batch_norm") == 2 and "add" in ops
    assert "bn1.running_var" in prog.weights  # weights keep their state-dict names
    run = prog.module()
    from engine.export.runtime import plan

    planned = [n["op"] for n in plan(run.graph, run.weights)]
    assert "batch_norm" not in planned  # both folded into their convolutions
    np.testing.assert_allclose(run(inputs), _eval(model, inputs), atol=1e-5, rtol=0)


def test_weights_load_into_torch_twin(models, inputs, tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    model = models[0]["mlp"]
    path = ex.export(model, en.zeros(2, 1, 28, 28), tmp_path / "mlp.safetensors")
    twin = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(32, 10))
    state = {k.removeprefix("net."): v for k, v in st.load_file(str(path)).items()}
    twin.load_state_dict(state)  # strict: the file holds exactly the twin's parameters
    twin.eval()
    with torch.no_grad():
        logits = twin(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(logits, _eval(model, inputs), atol=1e-5, rtol=0)
    np.testing.assert_allclose(logits, ex.load(path)(inputs), atol=1e-5, rtol=0)


def test_trace_restores_training_mode(models):
    model = models[0]["cnn"]
    model.train()
    ex.trace(model, en.zeros(1, 1, 28, 28))
    assert model.training
    model.eval()
    from engine import function

    assert function.trace_hook is None


