"""The config schema: one dataclass per YAML section, with allowed values in field metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DATASETS = ("mnist", "fashion_mnist", "kmnist", "synthetic", "idx")
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
              "adagrad": "Adagrad", "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "NAdam",
              "radam": "RAdam", "asgd": "ASGD", "rprop": "Rprop"}
SCHEDULERS = {"none": None, "step": "StepLR", "multistep": "MultiStepLR",
              "exponential": "ExponentialLR", "cosine": "CosineAnnealingLR",
              "plateau": "ReduceLROnPlateau", "linear": "LinearLR", "onecycle": "OneCycleLR",
              "constant": "ConstantLR", "polynomial": "PolynomialLR",
              "cosine_restarts": "CosineAnnealingWarmRestarts"}
# (mean, std) of the training images after ToTensor: data.normalize's default per data set
# (dataset: idx has none; its per-channel values are computed from its training images).
NORMALIZE = {"mnist": [0.1307, 0.3081], "fashion_mnist": [0.2860, 0.3530],
             "kmnist": [0.1918, 0.3483], "synthetic": [0.5, 0.25]}
MONITORS = ("val_acc", "val_loss", "train_acc", "train_loss")


def spec(default: Any, **rules: Any) -> Any:
    """A dataclass field with validation rules: ge, gt, le, lt, choices, help, null_words."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=rules)
    return field(default=default, metadata=rules)


@dataclass
class DataConfig:
    """Which data set, where it lives, how it is split, batched and transformed."""

    dataset: str = spec("mnist", choices=DATASETS)
    root: str = spec("data", help="folder searched for (and downloaded into) the IDX files; "
                     "for dataset: idx, the folder holding its four IDX files")
    download: bool = spec(True)
    val_fraction: float = spec(0.1, ge=0.0, lt=1.0)
    batch_size: int = spec(64, ge=1)
    eval_batch_size: int = spec(512, ge=1)
    # [mean, std] for Normalize, each a number or one per channel ([[m1, m2, m3], [s1, s2, s3]]);
    # null: the data set's usual values (NORMALIZE), computed from the training images for idx.
    normalize: list[Any] | None = spec(None)
    crop_padding: int = spec(0, ge=0, help="RandomCrop(image size, padding) on training images; "
                             "0: off")
    prefetch: int = spec(2, ge=0)
    # Only for dataset: synthetic (written into the run directory).
    synthetic_train: int = spec(2000, ge=10)
    synthetic_test: int = spec(500, ge=10)


@dataclass
class ModelConfig:
    """A zoo name ("mlp", "cnn") or "package.module:Class"; other keys are its arguments."""

    name: str = spec("mlp")
    kwargs: dict[str, Any] = spec({})


@dataclass
class OptimizerConfig:
    """An engine.optim optimizer; keys besides name/lr/weight_decay go to its constructor."""

    name: str = spec("sgd", choices=tuple(OPTIMIZERS))
    lr: float = spec(0.01, gt=0.0)
    # null: the optimizer's own default, as in PyTorch (AdamW 0.01, the others 0).
    weight_decay: float | None = spec(None, ge=0.0)
    kwargs: dict[str, Any] = spec({})


@dataclass
class SchedulerConfig:
    """An engine.optim.lr_scheduler class; stepped per epoch or per step."""

    name: str = spec("none", choices=tuple(SCHEDULERS))
    interval: Literal["epoch", "step"] = spec("epoch", choices=("epoch", "step"))
    kwargs: dict[str, Any] = spec({})


@dataclass
class TrainConfig:
    """Loop length, clipping, early stopping, checkpointing and logging."""

    epochs: int | None = spec(10, ge=1)
    max_steps: int | None = spec(None, ge=1)
    grad_clip: float | None = spec(None, gt=0.0)
    # Mixed precision: false, true (float16 autocast + GradScaler) or bf16 (emulated bfloat16).
    amp: bool | str = spec(False, words={"false": False, "true": True, "bf16": "bf16"})
    monitor: str = spec("val_acc", choices=MONITORS)
    mode: Literal["auto", "max", "min"] = spec("auto", choices=("auto", "max", "min"))
    patience: int | None = spec(None, ge=1)
    min_delta: float = spec(0.0, ge=0.0)
    keep_last: int = spec(2, ge=0)
    checkpoint_every_steps: int | None = spec(None, ge=1)
    log_every_steps: int = spec(50, ge=1)
    progress: str = spec("auto", choices=("auto", "bar", "log", "none"))
    out_dir: str = spec("runs")
    plot: bool = spec(True)
    # TensorBoard event files in <run>/tb/: null (or auto) when tensorboardX is installed.
    tensorboard: bool | None = spec(None, null_words=("auto",))
    # Test hook: behave as if interrupted (SIGINT) right after this many steps in this process.
    stop_after_steps: int | None = spec(None, ge=1)


@dataclass
class Config:
    """A whole experiment: what `trainer train` reads and writes back as config.yaml."""

    name: str = spec("run")
    seed: int = spec(0, ge=0)
    device: str = spec("cpu", choices=("cpu", "cuda"))
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# Sections whose unknown keys are constructor arguments (checked against the class signature).
OPEN_SECTIONS = ("model", "optimizer", "scheduler")

# Keys added after runs were first written, with their default: left out of the config hash while
# at it, so a run from before the key existed still resumes.
LATER_KEYS = {"train.amp": False}

# Keys a resumed run may change: they alter how long or how loudly it runs, not what it computes.
RESUMABLE_KEYS = frozenset({
    "train.epochs", "train.max_steps", "train.progress", "train.log_every_steps",
    "train.stop_after_steps", "train.keep_last", "train.plot", "train.checkpoint_every_steps",
    "train.out_dir", "train.tensorboard", "data.prefetch", "data.root", "data.download",
    "data.eval_batch_size", "name",
})
