"""A first MNIST run without a network: one short error naming offline configs; Keras's file."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

import datasets

CONFIG = """\
name: offline
data:
  dataset: mnist
  root: {root}
  batch_size: 16
model:
  name: mlp
  hidden: [8]
train:
  epochs: 1
  log_every_steps: 2
  out_dir: {out}
  plot: false
  tensorboard: false
"""


@pytest.fixture
def mnist_config(tmp_path: Path, monkeypatch) -> Path:
    """configs/mnist.yaml's data set with an empty root, a fresh HOME and no reachable mirror."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    with socket.socket() as s:  # a port on 127.0.0.1 where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{port}/"])
    path = tmp_path / "mnist.yaml"
    path.write_text(CONFIG.format(root=tmp_path / "data", out=tmp_path / "runs"))
    return path


def test_unreachable_mirrors_give_two_short_lines(cli, mnist_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "first"
    result = cli("train", mnist_config, "--run-dir", run, "--progress", "none")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    # With data.root: data (configs/mnist.yaml's): what is missing, then what runs offline.
    assert len(lines) == 2 and all(len(ln.replace(str(tmp_path / "data"), "data")) <= 150
                                   for ln in lines)
    data = tmp_path / "data"
    assert lines[0] == (
        f"error: MNIST: train-images-idx3-ubyte.gz and 1 more not in {data}/MNIST(/raw), "
        f"{data}, ~/.keras/datasets/mnist.npz; download failed (Connection refused)")
    assert lines[1] == ("to train offline: trainer train configs/smoke.yaml, or "
                        "configs/fashion_mnist.yaml (apt-get install dataset-fashion-mnist)")
    assert not run.exists()  # a failed start leaves no run folder


def test_keras_mnist_npz_trains_without_a_network(cli, mnist_config: Path,
                                                  tmp_path: Path) -> None:
    folder = tmp_path / "home" / ".keras" / "datasets"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.integers(0, 256, (80, 28, 28), dtype=np.uint8),
              "y_train": (np.arange(80) % 10).astype(np.uint8),
              "x_test": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "y_test": (np.arange(20) % 10).astype(np.uint8)}
    np.savez(folder / "mnist.npz", **arrays)
    run = tmp_path / "runs" / "keras"
    result = cli("train", mnist_config, "--run-dir", run, "--progress", "none")
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "meta.json").read_text())
    assert list(meta["dataset_checksums"]) == ["mnist.npz"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "epoch"] == [5]  # 72 train images / 16
    assert not (tmp_path / "data").exists()  # nothing downloaded, nothing written there
