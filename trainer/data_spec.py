"""What a run's data looks like without loading it: image shape, raw layout, classes, Normalize.

The MNIST family (and the synthetic set) is 1 x 28 x 28 with fixed statistics; ``dataset: idx``
reads its shape from the IDX headers, its classes from the labels and, when data.normalize is
null, its per-channel mean/std from the training images. ``resolve_data`` writes what it found
into the config before a run starts, so config.yaml records it and eval/export rebuild the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from trainer.config import mean_std
from trainer.schema import NORMALIZE

# The image shape the MNIST family (and the zoo's defaults) are made for, channels first.
STANDARD_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class InputSpec:
    """One image as the model takes it (C, H, W) and as the raw files store it."""

    shape: tuple[int, int, int]
    raw: tuple[int, ...]  # (H, W) grey, or (H, W, C) channels last
    layout: str  # "HW" or "HWC"


def _folder(cfg: Any, train: bool) -> Any:
    from datasets import IDXFolder
    from datasets.mnist import FilesNotFound
    from engine.errors import DataError

    try:
        return IDXFolder(cfg.data.root, train=train)
    except FilesNotFound as exc:
        raise DataError(f"{exc} (config: set data.root to the folder holding them)") from None


def _images_path(cfg: Any) -> Path:
    from datasets.mnist import _existing, split_files
    from engine.errors import DataError

    name = split_files(True)[0]
    path = _existing(Path(cfg.data.root).expanduser() / name)
    if path is None:
        raise DataError(f"{Path(cfg.data.root).expanduser() / name}(.gz) not found; set "
                        "data.root to the folder holding the run's IDX files")
    return path


def input_spec(cfg: Any, run_dir: Path | None = None) -> InputSpec:
    """The run's image shape: read from the training images' IDX header for dataset: idx."""
    if cfg.data.dataset != "idx":
        return InputSpec(STANDARD_SHAPE, STANDARD_SHAPE[1:], "HW")
    from datasets.idx import read_header

    raw = read_header(_images_path(cfg)).shape[1:]
    if len(raw) == 2:
        return InputSpec((1, raw[0], raw[1]), raw, "HW")
    return InputSpec((raw[2], raw[0], raw[1]), raw, "HWC")


def num_classes(train: Any, test: Any) -> int:
    """Classes of an IDX folder: 0..the largest label of either split."""
    return max(len(train.classes), len(test.classes))


def config_classes(cfg: Any) -> list[str]:
    """Class names of the run's data set (idx: the labels 0..max as strings)."""
    from trainer.data import class_names

    if cfg.data.dataset != "idx":
        return class_names(cfg.data.dataset)
    return [str(i) for i in range(num_classes(_folder(cfg, True), _folder(cfg, False)))]


def normalization(cfg: Any, train_images: Any = None) -> tuple[list[float], list[float]]:
    """Per-channel (mean, std): data.normalize, the data set's usual values, or computed."""
    norm = cfg.data.normalize or NORMALIZE.get(cfg.data.dataset)
    if norm is not None:
        return mean_std(norm)
    from datasets import channel_stats

    images = train_images if train_images is not None else _folder(cfg, True).images
    return channel_stats(images)


def resolve_data(cfg: Any) -> None:
    """For dataset: idx, record the data's normalisation and the zoo model's shape in cfg.

    The files are opened and checked here, before a run folder exists. A zoo model (mlp, cnn)
    gets in_features / in_channels, input_size and num_classes from the data unless the config
    sets them; a user model is left as configured (its input check comes at setup).
    """
    if cfg.data.dataset != "idx":
        return
    train, test = _folder(cfg, True), _folder(cfg, False)
    spec = input_spec(cfg)
    for ds in (train, test):
        if ds.image_shape != spec.shape:
            from engine.errors import DataError

            raise DataError(f"{ds.images_path}: images are {'x'.join(map(str, ds.image_shape))}"
                            f", the training images {'x'.join(map(str, spec.shape))}; both "
                            "splits must hold images of one shape")
    if cfg.data.normalize is None:
        mean, std = normalization(cfg, train.images)
        if min(std) <= 0:
            raise ConfigError(f"{train.images_path}: a channel of the training images is "
                              "constant (std 0); set data.normalize explicitly")
        cfg.data.normalize = [mean, std] if len(mean) > 1 else [mean[0], std[0]]
    check_channels(cfg, spec.shape[0])
    kwargs = cfg.model.kwargs
    c, h, w = spec.shape
    if cfg.model.name == "mlp":
        kwargs.setdefault("in_features", c * h * w)
    elif cfg.model.name == "cnn":
        kwargs.setdefault("in_channels", c)
        kwargs.setdefault("input_size", (h, w))  # as config loading types it
    if cfg.model.name in ("mlp", "cnn"):
        kwargs.setdefault("num_classes", num_classes(train, test))


def check_channels(cfg: Any, channels: int) -> None:
    """ConfigError unless data.normalize has one value or one per image channel."""
    mean, _ = normalization(cfg) if cfg.data.normalize is not None else ([0.0], [1.0])
    if len(mean) not in (1, channels):
        raise ConfigError(f"data.normalize has {len(mean)} values per list but the images have "
                          f"{channels} channel(s); give one value, or one per channel")
