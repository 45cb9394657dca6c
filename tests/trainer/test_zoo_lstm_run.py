"""The zoo's lstm through the CLI: it learns the synthetic data, and export refuses it cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LSTM_RUN = """\
name: tiny_lstm
seed: 0
data:
  dataset: synthetic
  synthetic_train: 400
  synthetic_test: 200
  val_fraction: 0.2
  batch_size: 32
model:
  name: lstm
  hidden_size: 32
optimizer:
  name: adam
  lr: 0.01
scheduler:
  name: none
train:
  epochs: {epochs}
  out_dir: {out}
  plot: false
"""


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short lstm training run on synthetic data, shared by this module's tests."""
    from typer.testing import CliRunner

    from trainer.cli import app

    root = tmp_path_factory.mktemp("lstm")
    path = root / "lstm.yaml"
    path.write_text(LSTM_RUN.format(epochs=3, out=root / "runs"))
    run = root / "runs" / "lstm"
    result = CliRunner().invoke(app, ["train", str(path), "--run-dir", str(run), "--progress",
                                      "log"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return run


def test_lstm_learns_the_synthetic_data(lstm_run: Path) -> None:
    rows = [json.loads(line) for line in (lstm_run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[-1]["val_acc"] > epochs[0]["val_acc"]
    test_acc = [r for r in rows if r["kind"] == "test"][-1]["test_acc"]
    assert test_acc > 0.5  # ten classes: chance is 0.1


def test_export_refuses_lstm_with_one_line(cli, lstm_run: Path, tmp_path: Path) -> None:
    for fmt in ("script", "onnx"):
        out = tmp_path / f"m.{fmt}"
        result = cli("export", lstm_run, "--format", fmt, "--out", out)
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        assert "LSTMSequence" in lines[0] and "not supported by export" in lines[0]
        assert not out.exists()


@pytest.mark.parametrize(("name", "dataset"), [("mnist_lstm", "mnist"),
                                               ("fashion_mnist_lstm", "fashion_mnist")])
def test_shipped_lstm_configs_load_and_build(name: str, dataset: str) -> None:
    from trainer import config, zoo

    cfg = config.load(Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml")
    assert (cfg.model.name, cfg.model.kwargs, cfg.data.dataset) == (
        "lstm", {"hidden_size": 128}, dataset)
    model = zoo.build_model(cfg.model.name, **cfg.model.kwargs)
    assert isinstance(model, zoo.RowLSTM) and model.lstm.hidden_size == 128
