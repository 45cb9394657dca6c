"""Fixtures for the trainer tests: a tiny synthetic config and a CLI runner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainer.cli import app

# Small enough that a run takes about a second: 240 train / 60 val / 100 test images.
TINY = """\
name: tiny
seed: 3
data:
  dataset: synthetic
  synthetic_train: 300
  synthetic_test: 100
  val_fraction: 0.2
  batch_size: 32
  eval_batch_size: 64
  crop_padding: 1
  prefetch: 1
model:
  name: mlp
  hidden: [16]
  dropout: 0.1
optimizer:
  name: adam
  lr: 0.005
scheduler:
  name: step
  interval: step
  step_size: 5
  gamma: 0.9
train:
  epochs: 2
  log_every_steps: 3
  out_dir: {out}
  plot: false
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """A config file for a ~1 s run whose runs go under tmp_path/runs."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(out=tmp_path / "runs"))
    return path


class Cli:
    """Runs `trainer ...` in-process and returns click's Result."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str) -> object:
        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    """Invoke the trainer CLI in-process."""
    return Cli()


@pytest.fixture
def export_and_predict(cli: Cli):
    """A function exporting a run in both formats and predicting its test images with each:
    {format: (exported file, accuracy printed by `trainer predict`)}."""

    def run(run_dir: Path, out_dir: Path) -> dict[str, tuple[Path, float]]:
        images = run_dir / "data" / "t10k-images-idx3-ubyte"
        labels = run_dir / "data" / "t10k-labels-idx1-ubyte"
        found = {}
        for fmt, name in (("script", "m.safetensors"), ("onnx", "m.onnx")):
            result = cli("export", run_dir, "--format", fmt, "--out", out_dir / name)
            assert result.exit_code == 0, result.output
            result = cli("predict", out_dir / name, images, "--labels", labels)
            assert result.exit_code == 0, result.output
            accuracy = re.search(r"accuracy: ([0-9.]+) \(100 images\)", result.output)
            found[fmt] = (out_dir / name, float(accuracy.group(1)))
        return found

    return run
