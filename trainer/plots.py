"""Training curves as PNG files, when matplotlib is importable (the `plot` extra).

plot_curves: one run's plots/curves.png; plot_compare: two or more runs' curves overlaid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.io import atomic_write


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), or None when not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # must precede pyplot
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(plt: Any, fig: Any, out: Path) -> Path:
    """Write fig as a PNG through a temp file, so a reader never sees half an image."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return out


def plot_curves(run: Any) -> Path | None:
    """Loss and accuracy per epoch (train and val); None when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return None
    rows = [r for r in run.read_metrics() if r.get("kind") == "epoch"]
    if not rows:
        return None
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "acc"), strict=True):
        for split in ("train", "val"):
            values = [r.get(f"{split}_{metric}") for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(plt, fig, run.path / "plots" / "curves.png")


def plot_compare(runs: list[Any], out: Path) -> Path | None:
    """train_loss per logged step and val_acc per epoch of each run, overlaid, written to out.

    None when matplotlib is missing.
    """
    plt = _pyplot()
    if plt is None:
        return None
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        rows = run.read_metrics()
        steps = [r for r in rows if r.get("kind") == "step" and r.get("train_loss") is not None]
        epochs = [r for r in rows if r.get("kind") == "epoch"]
        label = run.path.name
        if steps:
            loss_ax.plot([r["step"] for r in steps], [r["train_loss"] for r in steps], label=label)
        vals = [r for r in epochs if r.get("val_acc") is not None]
        if vals:
            acc_ax.plot([r["epoch"] for r in vals], [r["val_acc"] for r in vals], marker="o",
                        label=label)
    for ax, x, y in ((loss_ax, "step", "train_loss"), (acc_ax, "epoch", "val_acc")):
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return _save(plt, fig, out)
