"""Data sets and loaders from the config: train / val (carved from train with the seed) / test."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import DataError
from trainer.runs import sha256_file
from trainer.schema import NORMALIZE


@dataclass
class Data:
    """Everything the loop needs from the data side."""

    train: Any
    val: Any | None
    test: Any
    classes: list[str]
    files: list[Path]  # the IDX files read, for meta.json's checksums

    def checksums(self) -> dict[str, str]:
        """SHA-256 per data file (read in full: only a new run records them)."""
        return {p.name: sha256_file(p) for p in self.files}


def data_root(cfg: Any, run_dir: Path | None) -> Path:
    """Where the IDX files are: the run's own data/ folder for the synthetic set."""
    if cfg.data.dataset == "synthetic":
        if run_dir is None:
            raise ValueError("the synthetic data set lives in a run directory; pass run_dir")
        return Path(run_dir) / "data"
    return Path(cfg.data.root).expanduser()


def dataset_class(dataset: str) -> Any:
    """The datasets class for a config data.dataset name (the synthetic set is MNIST-shaped)."""
    import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST,
            "kmnist": datasets.KMNIST, "synthetic": datasets.MNIST}[dataset]


def class_names(dataset: str) -> list[str]:
    """Class names of a config data set; the synthetic set's are its digits as strings."""
    if dataset == "synthetic":
        return [str(i) for i in range(10)]
    return list(dataset_class(dataset).classes)


def _open(cfg: Any, run_dir: Path | None, train: bool) -> Any:
    import datasets

    root = data_root(cfg, run_dir)
    cls = dataset_class(cfg.data.dataset)
    if cfg.data.dataset == "synthetic":
        if not (root / "t10k-labels-idx1-ubyte").is_file():
            # Same arguments, same bytes: a resumed or evaluated run regenerates identical data.
            datasets.make_synthetic_idx(root, n_train=cfg.data.synthetic_train,
                                        n_test=cfg.data.synthetic_test, seed=cfg.seed)
        ds = cls(root, train=train, download=False)
        ds.classes = class_names("synthetic")
        return ds
    try:
        return cls(root, train=train, download=cfg.data.download)
    except DataError as exc:
        if cfg.data.download:
            raise
        raise DataError(f"{exc} (config: set data.root, or data.download: true)") from None


def _transforms(cfg: Any, augment: bool) -> Any:
    from datasets import transforms as T

    mean, std = cfg.data.normalize or NORMALIZE[cfg.data.dataset]
    steps: list[Any] = [T.ToTensor()]
    if augment and cfg.data.crop_padding:
        steps.append(T.RandomCrop(28, padding=cfg.data.crop_padding))
    steps.append(T.Normalize((mean,), (std,)))
    return T.Compose(steps)


def _loader(ds: Any, cfg: Any, batch_size: int, shuffle: bool) -> Any:
    from datasets import DataLoader

    device = cfg.device if cfg.device != "cpu" else None
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, seed=cfg.seed,
                      prefetch=cfg.data.prefetch, device=device)


def build_data(cfg: Any, run_dir: Path | None) -> Data:
    """Open the data set named by cfg.data and make the train, val and test loaders."""
    from datasets import Subset, random_split

    full = _open(cfg, run_dir, train=True)
    test_ds = _open(cfg, run_dir, train=False)
    test_ds.transform = _transforms(cfg, augment=False)
    files = [Path(p) for ds in (full, test_ds) for p in (ds.images_path, ds.labels_path)]
    n_val = int(round(len(full) * cfg.data.val_fraction))
    n_val = min(n_val, len(full) - 1) if cfg.data.val_fraction > 0 else 0
    train_part, val_part = random_split(full, [len(full) - n_val, n_val], seed=cfg.seed)
    # Two views of one file: augmentation for training, plain transforms for validation.
    train_view = copy.copy(full)
    train_view.transform = _transforms(cfg, augment=True)
    eval_view = copy.copy(full)
    eval_view.transform = _transforms(cfg, augment=False)
    train = _loader(Subset(train_view, train_part.indices), cfg, cfg.data.batch_size, True)
    val = (_loader(Subset(eval_view, val_part.indices), cfg, cfg.data.eval_batch_size, False)
           if n_val else None)
    test = _loader(test_ds, cfg, cfg.data.eval_batch_size, False)
    classes = list(getattr(full, "classes", [str(i) for i in range(10)]))
    return Data(train, val, test, classes, files)
