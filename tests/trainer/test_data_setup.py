"""Data checked at setup: label range, empty files, image shape against the model, one line each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets import write_idx

CONFIG = """\
name: hostile
seed: 0
data:
  dataset: mnist
  root: {root}
  download: false
  val_fraction: 0.0
  batch_size: 16
  crop_padding: 0
  prefetch: 0
model:
  name: mlp
  hidden: [8]
optimizer:
  name: sgd
  lr: 0.1
train:
  epochs: 1
  monitor: train_loss
  out_dir: {out}
  plot: false
"""


def _files(root: Path, n: int = 40, size: int = 28, labels: np.ndarray | None = None) -> None:
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n), ("t10k", max(n // 4, 1) if n else 0)):
        write_idx(root / f"{prefix}-images-idx3-ubyte",
                  rng.integers(0, 256, (count, size, size), dtype=np.uint8))
        lab = (np.arange(count) % 10).astype(np.uint8)
        if labels is not None and prefix == "train":
            lab = labels
        write_idx(root / f"{prefix}-labels-idx1-ubyte", lab)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(root=tmp_path / "data", out=tmp_path / "runs"))
    return path


def _error(result: object) -> str:
    out = result.output.strip()
    assert "Traceback" not in out and "internal error" not in out
    assert len(out.splitlines()) == 1, out
    return out


def test_label_out_of_range_is_named_at_load(cli, config: Path, tmp_path: Path) -> None:
    labels = (np.arange(40) % 10).astype(np.uint8)
    labels[17] = 200
    _files(tmp_path / "data", labels=labels)
    result = cli("train", config)
    assert result.exit_code != 0
    path = tmp_path / "data" / "train-labels-idx1-ubyte"
    assert (f"{path}: record 17: label 200 is outside the 10 classes (0-9)"
            in _error(result))


def test_empty_data_set_is_refused(cli, config: Path, tmp_path: Path) -> None:
    _files(tmp_path / "data", n=0)
    result = cli("train", config)
    assert result.exit_code != 0
    path = tmp_path / "data" / "train-images-idx3-ubyte"
    assert f"{path}: the IDX file holds 0 images; the data set is empty" in _error(result)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_small_images_named_with_both_shapes_at_setup(cli, config: Path, tmp_path: Path,
                                                      model: str) -> None:
    _files(tmp_path / "data", size=14)
    if model == "cnn":  # the cnn takes no hidden sizes
        config.write_text(config.read_text().replace("  hidden: [8]\n", ""))
    result = cli("train", config, f"model.name={model}")
    assert result.exit_code != 0
    path = tmp_path / "data" / "train-images-idx3-ubyte"
    line = _error(result)
    assert f"{path}: images are 1x14x14, the model ({model}) takes 1x28x28" in line
    assert "mat1 and mat2" not in line


def test_label_without_a_model_output(cli, config: Path, tmp_path: Path) -> None:
    _files(tmp_path / "data")
    result = cli("train", config, "model.num_classes=5")
    assert result.exit_code != 0
    path = tmp_path / "data" / "train-labels-idx1-ubyte"
    assert (f"{path}: record 5: label 5 but the model (mlp) has 5 outputs; set "
            "model.num_classes to at least 10" in _error(result))


def test_good_files_train(cli, config: Path, tmp_path: Path) -> None:
    _files(tmp_path / "data")
    result = cli("train", config)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("model", "size", "takes"), [("lstm", 14, "1x*x28"),
                                                      ("cnn", 30, "1x28x28")])
def test_models_that_would_reshape_or_crop_refuse_other_sizes(cli, config: Path,
                                                               tmp_path: Path, model: str,
                                                               size: int, takes: str) -> None:
    _files(tmp_path / "data", size=size)
    config.write_text(config.read_text().replace("  hidden: [8]\n", ""))
    result = cli("train", config, f"model.name={model}")
    assert result.exit_code != 0
    assert (f"images are 1x{size}x{size}, the model ({model}) takes {takes}"
            in _error(result))


def test_test_file_of_another_shape_is_named(cli, config: Path, tmp_path: Path) -> None:
    _files(tmp_path / "data")
    write_idx(tmp_path / "data" / "t10k-images-idx3-ubyte", np.zeros((10, 14, 14), np.uint8))
    result = cli("train", config)
    path = tmp_path / "data" / "t10k-images-idx3-ubyte"
    assert f"{path}: images are 1x14x14, the model (mlp) takes 1x28x28" in _error(result)


def test_damaged_file_gets_no_download_hint(cli, config: Path, tmp_path: Path) -> None:
    _files(tmp_path / "data")
    write_idx(tmp_path / "data" / "t10k-labels-idx1-ubyte", np.full(10, 99, np.uint8))
    line = _error(cli("train", config))
    assert "record 0: label 99 is outside" in line and "data.download" not in line


def test_crop_keeps_the_images_own_size(cli, config: Path, tmp_path: Path) -> None:
    _files(tmp_path / "data", size=14)
    config.write_text(config.read_text().replace("crop_padding: 0", "crop_padding: 2"))
    result = cli("train", config, "model.in_features=196")
    assert result.exit_code == 0, result.output


def test_eval_checks_the_images_against_the_model(cli, config: Path, tmp_path: Path) -> None:
    _files(tmp_path / "data")
    assert cli("train", config).exit_code == 0
    run = next((tmp_path / "runs").iterdir())
    write_idx(tmp_path / "data" / "t10k-images-idx3-ubyte", np.zeros((10, 14, 14), np.uint8))
    result = cli("eval", run)
    assert result.exit_code != 0
    path = tmp_path / "data" / "t10k-images-idx3-ubyte"
    assert f"{path}: images are 1x14x14, the model (mlp) takes 1x28x28" in _error(result)
