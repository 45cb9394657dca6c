"""A run trained with --device cuda (the CuPy stand-in where no GPU is visible), then evaluated,
exported and used for prediction on a machine without a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import backend


def test_gpu_run_then_eval_export_predict_on_cpu(cli, tiny_config: Path, tmp_path: Path,
                                                export_and_predict, fake_gpu) -> None:
    run = tmp_path / "runs" / "gpu"
    result = cli("train", tiny_config, "--run-dir", run, "--device", "cuda", "--progress", "none")
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "meta.json").read_text())
    assert meta["device"] == "cuda"
    test_acc = meta["result"]["test_acc"]
    assert 0.2 < test_acc <= 1.0  # it learned (10 classes)

    on_gpu = cli("eval", run)
    assert on_gpu.exit_code == 0, on_gpu.output
    gpu_report = json.loads((run / "eval.json").read_text())
    assert gpu_report["acc"] == pytest.approx(test_acc, abs=1e-12)
    assert sum(map(sum, gpu_report["confusion"])) == 100

    backend._use_cupy_module(None)  # from here on, the machine's own CuPy: none without a GPU
    if not backend.cuda_available():
        refused = cli("eval", run)
        assert refused.exit_code == 2 and "device=cpu" in refused.output
    result = cli("eval", run, "device=cpu")
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval.json").read_text())
    assert report["acc"] == pytest.approx(test_acc, abs=1e-12) and report["count"] == 100
    assert report["confusion"] == gpu_report["confusion"]
    found = export_and_predict(run, tmp_path)
    assert set(found) == {"script", "onnx"}
    for _, accuracy in found.values():
        assert accuracy == pytest.approx(test_acc, abs=1e-4)


@pytest.mark.parametrize("amp", ["false", "true"])
def test_gpu_cnn_run_resumes_on_the_gpu(amp: str, cli, tiny_config: Path, tmp_path: Path,
                                        fake_gpu) -> None:
    assert "  name: mlp\n  hidden: [16]\n  dropout: 0.1\n" in tiny_config.read_text()
    run, config = tmp_path / "runs" / "cnn", tmp_path / "cnn.yaml"
    config.write_text(tiny_config.read_text().replace(
        "  name: mlp\n  hidden: [16]\n  dropout: 0.1\n", "  name: cnn\n").replace(
        "synthetic_train: 300", "synthetic_train: 96").replace(
        "synthetic_test: 100", "synthetic_test: 32"))
    assert "synthetic_train: 96" in config.read_text()  # a smaller set: numpy float16 is slow
    result = cli("train", config, "--run-dir", run, "--device", "cuda", "--progress", "none",
                 "train.epochs=1", f"train.amp={amp}")
    assert result.exit_code == 0, result.output
    result = cli("train", config, "--resume", run, "--device", "cuda", "--progress", "none",
                 "train.epochs=2", f"train.amp={amp}")
    assert result.exit_code == 0, result.output
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "epoch"]
    assert epochs == [1, 2]
