"""`trainer export` then `trainer predict` reproduce the run's test accuracy from the file alone."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from trainer.export_cmd import export_command, predict_command, predict_file

app = typer.Typer()
app.command("export")(export_command)
app.command("predict")(predict_command)


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def run(tiny_config):
    from trainer.evaluation import evaluate_run
    from trainer.session import train

    code, run_dir = train(tiny_config)
    assert code == 0
    return run_dir, evaluate_run(run_dir, "last", "test")["acc"]


def test_export_then_predict_reproduces_test_accuracy(run, tmp_path):
    run_dir, acc = run
    images = run_dir / "data" / "t10k-images-idx3-ubyte"
    labels = run_dir / "data" / "t10k-labels-idx1-ubyte"
    for fmt, name in (("script", "m.safetensors"), ("onnx", "m.onnx")):
        result = _invoke("export", run_dir, "--format", fmt, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
        result = _invoke("predict", tmp_path / name, images, "--labels", labels)
        assert result.exit_code == 0, result.output
        found = float(re.search(r"accuracy: ([0-9.]+) \(100 images\)", result.output).group(1))
        assert found == pytest.approx(acc, abs=1e-4)
        assert predict_file(tmp_path / name, images, labels=labels)["accuracy"] == \
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
