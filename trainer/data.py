"""Data sets and loaders from the config: train / val (carved from train with the seed) / test."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DataError
from trainer.data_spec import STANDARD_SHAPE, check_channels, normalization, num_classes
from trainer.runs import sha256_file


@dataclass
class Data:
    """Everything the loop needs from the data side."""

    train: Any
    val: Any | None
    test: Any
    classes: list[str]
    files: list[Path]  # the IDX files read, for meta.json's checksums
    # The train file (eval transforms) and the test set, for check_model_input's dry forward.
    sources: list[Any] = field(default_factory=list)
    # dataset: idx names its classes by its labels: the model must have one output per class.
    exact_classes: bool = False

    def checksums(self) -> dict[str, str]:
        """SHA-256 per data file (read in full: only a new run records them)."""
        return {p.name: sha256_file(p) for p in self.files}


# What to run without a network, by data set (Debian ships Fashion-MNIST; smoke makes its data).
_FASHION_APT = "apt-get install dataset-fashion-mnist"
OFFLINE_HINTS = {
    "fashion_mnist": f"to train offline: {_FASHION_APT}, or trainer train configs/smoke.yaml",
    "mnist": "to train offline: trainer train configs/smoke.yaml, or configs/fashion_mnist.yaml "
             f"({_FASHION_APT})",
}


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
            "kmnist": datasets.KMNIST, "synthetic": datasets.MNIST,
            "idx": datasets.IDXFolder}[dataset]


def class_names(dataset: str) -> list[str]:
    """Class names of a config data set; the synthetic set's are its digits as strings.

    dataset: idx names its classes by its labels (trainer.data_spec.config_classes).
    """
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
    from datasets.download import DownloadError
    from datasets.mnist import FilesNotFound

    download = {"download": cfg.data.download} if cfg.data.dataset != "idx" else {}
    hint = "set data.root, or data.download: true" if download else "set data.root"
    try:
        return cls(root, train=train, **download)
    except FilesNotFound as exc:  # a damaged file's own message needs no hint
        raise DataError(f"{exc} (config: {hint})") from None
    except DownloadError as exc:  # offline first run: name configs that need no download
        # Two lines: what is missing and where it was looked for, then what runs offline.
        raise DataError(f"{exc}\n{OFFLINE_HINTS.get(cfg.data.dataset, OFFLINE_HINTS['mnist'])}"
                        ) from exc


def _transforms(cfg: Any, augment: bool, size: tuple[int, ...] = (28, 28),
                stats: tuple[list[float], list[float]] | None = None) -> Any:
    from datasets import transforms as T

    mean, std = stats or normalization(cfg)
    steps: list[Any] = [T.ToTensor()]
    if augment and cfg.data.crop_padding:
        # The crop keeps the images' own size: padding then cropping never changes the shape.
        steps.append(T.RandomCrop(tuple(size), padding=cfg.data.crop_padding))
    steps.append(T.Normalize(mean, std))
    return T.Compose(steps)


def _loader(ds: Any, cfg: Any, batch_size: int, shuffle: bool) -> Any:
    from datasets import DataLoader
    from trainer.parallel import shard

    device = cfg.device if cfg.device != "cpu" else None
    ds, order = shard(ds, shuffle, cfg.seed)  # this rank's share when several train together
    return DataLoader(ds, batch_size=batch_size, prefetch=cfg.data.prefetch, device=device,
                      pin_memory=device is not None, **order)


def build_data(cfg: Any, run_dir: Path | None, model: Any = None) -> Data:
    """Open the data set named by cfg.data and make the train, val and test loaders.

    Given the built model, also check that it takes the images (check_model_input).
    """
    from datasets import Subset, random_split

    full = _open(cfg, run_dir, train=True)
    test_ds = _open(cfg, run_dir, train=False)
    idx = cfg.data.dataset == "idx"
    # Computed once (idx without data.normalize): the training images are counted, not copied.
    stats = normalization(cfg, full.images if idx else None)
    if idx:
        check_channels(cfg, full.image_shape[0])
    test_ds.transform = _transforms(cfg, augment=False, stats=stats)
    files = [Path(p) for ds in (full, test_ds) for p in (ds.images_path, ds.labels_path)]
    n_val = int(round(len(full) * cfg.data.val_fraction))
    n_val = min(n_val, len(full) - 1) if cfg.data.val_fraction > 0 else 0
    train_part, val_part = random_split(full, [len(full) - n_val, n_val], seed=cfg.seed)
    # Two views of one file: augmentation for training, plain transforms for validation.
    train_view = copy.copy(full)
    train_view.transform = _transforms(cfg, augment=True, size=full.images.shape[1:3],
                                       stats=stats)
    eval_view = copy.copy(full)
    eval_view.transform = _transforms(cfg, augment=False, stats=stats)
    train = _loader(Subset(train_view, train_part.indices), cfg, cfg.data.batch_size, True)
    val = (_loader(Subset(eval_view, val_part.indices), cfg, cfg.data.eval_batch_size, False)
           if n_val else None)
    test = _loader(test_ds, cfg, cfg.data.eval_batch_size, False)
    classes = list(getattr(full, "classes", [str(i) for i in range(10)]))
    if idx:
        classes = [str(i) for i in range(num_classes(full, test_ds))]
    data = Data(train, val, test, classes, files, [eval_view, test_ds], exact_classes=idx)
    if model is not None:
        check_model_input(model, data, cfg.device, cfg.model.name)
    return data


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "x".join("*" if d is None else str(d) for d in shape)


def _fits(shape: tuple[int, ...], declared: tuple[int | None, ...]) -> bool:
    """Whether shape matches a declared input shape (None: any size along that axis)."""
    return len(shape) == len(declared) and all(d is None or d == s
                                               for s, d in zip(shape, declared, strict=True))


def _dry_forward(model: Any, x: Any) -> Any:
    """model(x) in eval mode without autograd (no dropout draw, no running-stat update)."""
    import engine

    was_training = model.training
    model.eval()
    try:
        with engine.no_grad():
            return model(x)
    finally:
        model.train(was_training)


def _takes(model: Any, shape: tuple[int, ...], device: str) -> bool:
    import engine

    try:
        _dry_forward(model, engine.zeros((1, *shape), device=device))
    except Exception:  # noqa: BLE001 - any failure means "not this shape"
        return False
    return True


def check_model_input(model: Any, data: Data, device: str, model_name: str = "model") -> None:
    """Run one image of each data file through the model; a DataError (one line) if it fails.

    A model may declare ``input_shape`` (C, H, W; None for any size), compared first; for
    models that declare none the dry forward is the check: an image the model
    cannot take is named with its file and both shapes, and a label the model has no output for
    with its file and record, at setup instead of when a batch reaches them.
    """
    for ds in data.sources:
        image, _ = ds[0]
        shape = tuple(image.shape)
        declared = getattr(model, "input_shape", None)
        if declared is not None and not _fits(shape, tuple(declared)):
            raise DataError(
                f"{ds.images_path}: images are {_shape_text(shape)}, the model ({model_name}) "
                f"takes {_shape_text(tuple(declared))}; use data of that shape or a model built "
                "for it"
            )
        try:
            out = _dry_forward(model, image.unsqueeze(0).to(device))
        except Exception as exc:  # noqa: BLE001 - reported as a data/model mismatch, one line
            expected = declared
            if expected is None and shape != STANDARD_SHAPE and _takes(model, STANDARD_SHAPE,
                                                                       device):
                expected = STANDARD_SHAPE
            if expected is not None:
                raise DataError(
                    f"{ds.images_path}: images are {_shape_text(shape)}, the model "
                    f"({model_name}) takes {_shape_text(tuple(expected))}; use data of that "
                    "shape or a model built for it"
                ) from None
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise DataError(
                f"{ds.images_path}: the model ({model_name}) fails on one {_shape_text(shape)} "
                f"image of this file: {type(exc).__name__}: {reason}"
            ) from None
        if out.ndim != 2 or out.shape[0] != 1:
            raise DataError(
                f"{ds.images_path}: the model ({model_name}) gives {_shape_text(tuple(out.shape))}"
                " for one image, expected 1 x num_classes logits"
            )
        _check_label_range(ds, int(out.shape[1]), model_name)
        if data.exact_classes and out.shape[1] != len(data.classes):
            raise DataError(
                f"{ds.labels_path}: the labels name {len(data.classes)} classes (0-"
                f"{len(data.classes) - 1}) but the model ({model_name}) has {out.shape[1]} "
                f"outputs; set model.num_classes: {len(data.classes)}"
            )


def _check_label_range(ds: Any, outputs: int, model_name: str) -> None:
    labels = ds.labels
    if labels is None or labels.size == 0 or int(labels.max()) < outputs:
        return
    i = int(np.flatnonzero(labels >= outputs)[0])
    raise DataError(
        f"{ds.labels_path}: record {i}: label {int(labels[i])} but the model ({model_name}) has "
        f"{outputs} outputs; set model.num_classes to at least {int(labels.max()) + 1}"
    )
