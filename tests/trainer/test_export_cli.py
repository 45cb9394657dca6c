"""`trainer export` then `trainer predict` reproduce the run's test accuracy from the file alone."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from trainer.cli import app
from trainer.predict import predict_file


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def run(tiny_config):
    from trainer.evaluation import evaluate_run
    from trainer.session import train

    code, run_dir = train(tiny_config)
    assert code == 0
    return run_dir, evaluate_run(run_dir, "last", "test")["acc"]


def test_export_then_predict_reproduces_test_accuracy(run, tmp_path, export_and_predict):
    run_dir, acc = run
    images = run_dir / "data" / "t10k-images-idx3-ubyte"
    labels = run_dir / "data" / "t10k-labels-idx1-ubyte"
    found = export_and_predict(run_dir, tmp_path)
    assert set(found) == {"script", "onnx"}
    for path, accuracy in found.values():
        assert accuracy == pytest.approx(acc, abs=1e-4)
        assert predict_file(path, images, labels=labels)["accuracy"] == \
            pytest.approx(acc, abs=1e-12)


def test_predict_top_k_csv(run, tmp_path):
    run_dir, _ = run
    result = _invoke("export", run_dir, "--checkpoint", "best")
    assert result.exit_code == 0, result.output
    exported = run_dir / "export" / "model-best.safetensors"
    assert exported.is_file()
    out = tmp_path / "pred.csv"
    images = run_dir / "data" / "t10k-images-idx3-ubyte"
    result = _invoke("predict", exported, images, "--top-k", "3", "--out", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["index", "class_1", "name_1", "prob_1", "class_2", "name_2", "prob_2",
                       "class_3", "name_3", "prob_3"]
    assert len(rows) == 101
    probs = np.array([[float(r[3]), float(r[6]), float(r[9])] for r in rows[1:]])
    assert (np.diff(probs, axis=1) <= 0).all() and (probs.sum(axis=1) <= 1 + 1e-6).all()
    assert rows[1][2] == rows[1][1]  # synthetic classes are named by their digit


def test_export_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "not found" in result.output
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x05\x00")
    images = tmp_path / "x.idx"
    result = CliRunner().invoke(app, ["predict", str(bad), str(images)])
    assert result.exit_code == 1 and "truncated" in result.output


@pytest.mark.parametrize("fmt", ["onnx", "script"])
@pytest.mark.parametrize("head", ["softmax", "log_softmax"])
def test_predict_probabilities_of_a_model_ending_in_softmax(tmp_path, fmt, head):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import engine as en
    from datasets.idx import write_idx
    from engine import nn

    en.manual_seed(0)
    last = nn.Softmax(dim=1) if head == "softmax" else nn.LogSoftmax(dim=1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), last).eval()
    prep = {"input": {"dtype": "uint8", "shape": [28, 28]}, "scale": 1 / 255, "mean": [0.5],
            "std": [0.25]}
    path = tmp_path / ("m.onnx" if fmt == "onnx" else "m.safetensors")
    en.export.export(model, en.zeros(2, 1, 28, 28), path, fmt, prep, [str(i) for i in range(10)])
    raw = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    images = write_idx(tmp_path / "x-idx3-ubyte", raw)
    x = ((raw.astype(np.float32) / 255 - 0.5) / 0.25)[:, None]
    with en.no_grad():
        out = model(en.tensor(x)).numpy()
    expected = out if head == "softmax" else np.exp(out)
    report = predict_file(path, images, top_k=10)
    found = np.take_along_axis(report["probs"], np.argsort(report["top"], axis=1), axis=1)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)
