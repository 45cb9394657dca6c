"""dataset: idx: a user model trains on a channels-last IDX folder; export and predict follow it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from datasets import read_idx, write_idx
from engine.errors import ConfigError
from trainer import config

USER_MODEL = """\
from engine import nn


class SmallNet(nn.Module):
    def __init__(self, num_classes=6):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                                 nn.Flatten(), nn.Linear(4 * 8 * 8, num_classes))

    def forward(self, x):
        return self.net(x)
"""

CONFIG = """\
name: idx
seed: 0
data:
  dataset: idx
  root: {root}
  val_fraction: 0.2
  batch_size: 32
model:
  name: {model}
optimizer:
  name: adam
  lr: 0.01
train:
  epochs: 1
  monitor: val_acc
  out_dir: {out}
  plot: false
  progress: log
"""


def colour_images(n: int, rng: np.random.Generator, size: int = 32,
                  channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Class = brightest channel (x stripe direction): (N, size, size, C) uint8, or grey."""
    labels = rng.integers(0, 2 * channels, n)
    img = rng.uniform(0, 120, (n, size, size, channels))
    stripes = (np.arange(size) // 4) % 2
    pattern = np.where((labels // channels)[:, None, None] == 1, stripes[None, None, :],
                       stripes[None, :, None])
    img[np.arange(n), :, :, labels % channels] += 40 + 60 * pattern
    img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    return (img[..., 0] if channels == 1 else img), labels.astype(np.uint8)


def write_folder(root: Path, n_train: int = 300, n_test: int = 100, **kw) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        x, y = colour_images(n, rng, **kw)
        write_idx(root / f"{split}-images-idx3-ubyte", x)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", y)
    return root


@pytest.fixture
def user_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "usermodel"
    folder.mkdir()
    (folder / "idx_user_models.py").write_text(USER_MODEL)
    monkeypatch.syspath_prepend(str(folder))
    return "idx_user_models:SmallNet"


def _config(tmp_path: Path, root: Path, model: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(CONFIG.format(root=root, model=model, out=tmp_path / "runs"))
    return path


def test_user_model_trains_exports_and_predicts_channels_last(tmp_path, user_model, cli):
    root = write_folder(tmp_path / "data")
    result = cli("train", _config(tmp_path, root, user_model))
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    stored = config.load(run / "config.yaml")
    train_x = read_idx(root / "train-images-idx3-ubyte")
    want = train_x.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(stored.data.normalize, [want.mean(0), want.std(0)], rtol=1e-12)

    from trainer.evaluation import evaluate_run

    acc = evaluate_run(run, "last", "test")["acc"]
    assert acc > 0.5  # six classes: chance is 1/6
    images, labels = root / "t10k-images-idx3-ubyte", root / "t10k-labels-idx1-ubyte.gz"
    from engine.export import load

    for fmt, name in (("script", "model-last.safetensors"), ("onnx", "model-last.onnx")):
        result = cli("export", run, "--format", fmt)
        assert result.exit_code == 0, result.output
        result = cli("predict", run / "export" / name, images, "--labels", labels)
        assert result.exit_code == 0, result.output
        # 100 test images: the accuracy is a whole percentage, exact in the printed 4 decimals.
        found = re.search(r"accuracy: ([0-9.]+) \(100 images\)", result.output).group(1)
        assert found == f"{acc:.4f}"
    script = load(run / "export" / "model-last.safetensors")
    assert script.input_spec["shape"] == [None, 3, 32, 32]
    assert script.preprocessing["input"] == {"dtype": "uint8", "shape": [32, 32, 3],
                                             "layout": "HWC"}
    assert script.classes == [str(i) for i in range(6)]


def test_grey_16x16_with_zoo_models_sized_from_the_data(tmp_path, cli):
    root = write_folder(tmp_path / "data", size=16, channels=1)
    for model in ("cnn", "mlp"):
        result = cli("train", _config(tmp_path, root, model), f"name={model}")
        assert result.exit_code == 0, result.output
        (run,) = (tmp_path / "runs").glob(f"{model}-*")
        stored = config.load(run / "config.yaml")
        train_x = read_idx(root / "train-images-idx3-ubyte") / 255.0
        assert stored.data.normalize == pytest.approx([train_x.mean(), train_x.std()],
                                                      rel=1e-12)
        sized = {"cnn": {"in_channels": 1, "input_size": (16, 16), "num_classes": 2},
                 "mlp": {"in_features": 256, "num_classes": 2}}[model]
        assert {k: stored.model.kwargs[k] for k in sized} == sized
        # The user's own config resolves to the same values: the run resumes from it.
        result = cli("train", tmp_path / "cfg.yaml", f"name={model}", "train.epochs=2",
                     "--resume", run)
        assert result.exit_code == 0, result.output
        assert "resumed" in result.output
        assert cli("export", run).exit_code == 0
        from engine.export import load

        script = load(run / "export" / "model-last.safetensors")
        assert script.input_spec["shape"] == [None, 1, 16, 16]
        assert script.preprocessing["input"] == {"dtype": "uint8", "shape": [16, 16]}


def test_given_per_channel_normalize_is_used_and_checked(tmp_path, user_model, cli):
    root = write_folder(tmp_path / "data", n_train=40, n_test=10)
    path = _config(tmp_path, root, user_model)
    cfg = config.load(path, ["data.normalize=[[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]]"])
    assert cfg.data.normalize == [[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]]
    result = cli("train", path, "data.normalize=[[0.5, 0.4], [0.2, 0.25]]")
    assert result.exit_code != 0
    assert "data.normalize has 2 values per list but the images have 3 channel(s)" in \
        result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("value", ["[[0.5, 0.4], [0.2]]", "[0.5, [0.2]]", "[[0.5], [0]]",
                                   "[0.1, 0.2, 0.3]"])
def test_malformed_normalize_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"data\.normalize: expected \[mean, std\] with std > 0,"
                                          r" each a number or a list with one value per channel"):
        config.loads("data:\n  dataset: idx\n", [f"data.normalize={value}"])


def test_model_with_the_wrong_number_of_outputs_is_refused(tmp_path, user_model, cli):
    root = write_folder(tmp_path / "data", n_train=40, n_test=10)
    result = cli("train", _config(tmp_path, root, user_model), "model.num_classes=8")
    assert result.exit_code != 0
    assert re.search(r"labels-idx1-ubyte\.gz: the labels name 6 classes \(0-5\) but the model "
                     r"\(idx_user_models:SmallNet\) has 8 outputs; set model.num_classes: 6",
                     result.output)


def test_user_model_of_another_shape_names_both_shapes(tmp_path, user_model, cli):
    root = write_folder(tmp_path / "data", n_train=40, n_test=10, size=16)
    result = cli("train", _config(tmp_path, root, user_model))
    assert result.exit_code != 0
    assert "train-images-idx3-ubyte: the model (idx_user_models:SmallNet) fails on one " \
           "3x16x16 image" in result.output


def test_missing_folder_file_is_refused_before_a_run_folder(tmp_path, cli):
    root = write_folder(tmp_path / "data", n_train=40, n_test=10)
    (root / "t10k-images-idx3-ubyte").unlink()
    result = cli("train", _config(tmp_path, root, "mlp"))
    assert result.exit_code != 0
    assert f"{root / 't10k-images-idx3-ubyte'}(.gz) not found" in result.output
    assert "set data.root" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_build_data_without_resolved_normalize_computes_it(tmp_path):
    from trainer.data import build_data

    root = write_folder(tmp_path / "data", n_train=40, n_test=10)
    cfg = config.loads(f"data:\n  dataset: idx\n  root: {root}\n")
    assert cfg.data.normalize is None
    data = build_data(cfg, None)
    x = read_idx(root / "train-images-idx3-ubyte").reshape(-1, 3) / 255
    image, _ = data.sources[1][0]
    raw = read_idx(root / "t10k-images-idx3-ubyte")[0] / 255
    want = (raw.transpose(2, 0, 1) - x.mean(0)[:, None, None]) / x.std(0)[:, None, None]
    np.testing.assert_allclose(image.numpy(), want, rtol=1e-5, atol=1e-5)
    assert data.classes == [str(i) for i in range(6)]
