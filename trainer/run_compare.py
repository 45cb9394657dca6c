"""`trainer runs --compare A B`: the config keys two runs differ in, and their final metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from trainer.config import flatten
from trainer.run_list import read_run_config, summarize
from trainer.runs import RunDir

# Keys that say how a run was shown or where it was stored, not what it computed: listed apart.
PRESENTATION_KEYS = frozenset({"train.progress", "train.out_dir", "train.plot", "data.prefetch",
                               "data.download"})
UNSET = "<unset>"


def compare_named(names: tuple[str, str] | list[str], runs_dir: str | Path,
                  out: str | Path | None = None) -> dict[str, Any]:
    """compare_runs on two runs named as `trainer runs --compare` takes them, plus the PNG of
    their curves ("png": its path, None without matplotlib) and "notes" on runs looked up."""
    from trainer.plots import plot_compare
    from trainer.run_pick import resolve_run

    paths, notes = [], []
    for name in names:
        path, why = resolve_run(name, runs_dir)
        if why:
            notes.append(f"using run {path} for {name} ({why})")
        paths.append(path)
    report = compare_runs(*paths)
    png = Path(out) if out else paths[0] / "plots" / f"compare-{paths[1].name}.png"
    report.update(notes=notes, png=plot_compare([RunDir(p) for p in paths], png))
    return report


def compare_runs(a: str | Path, b: str | Path) -> dict[str, Any]:
    """{"runs", "differ": [(key, a, b)], "ignored": [key], "metrics": [(label, a, b)]}."""
    runs = [RunDir.open(p).path for p in (a, b)]
    flat = [flatten(_config(p)) for p in runs]
    differ, ignored = [], []
    for key in sorted(set(flat[0]) | set(flat[1])):
        va, vb = (_shown(f.get(key, UNSET)) for f in flat)
        if va == vb:
            continue
        if key in PRESENTATION_KEYS:
            ignored.append(key)
        else:
            differ.append((key, va, vb))
    pairs = [final_metrics(p) for p in runs]
    metrics = [(label, pairs[0][label], pairs[1][label]) for label in pairs[0]]
    return {"runs": runs, "differ": differ, "ignored": ignored, "metrics": metrics}


def final_metrics(path: Path) -> dict[str, Any]:
    """A run's final numbers by label: status, epochs, steps, best val acc, test loss and acc."""
    row = summarize(path)
    result = RunDir(path).read_meta().get("result")
    result = result if isinstance(result, dict) else {}
    return {"status": row["status"], "epochs": row["epochs"], "steps": result.get("steps"),
            "best val acc": row["best_val_acc"], "best epoch": result.get("best_epoch"),
            "test loss": result.get("test_loss"), "test acc": row["test_acc"],
            "train seconds": result.get("train_seconds")}


def _config(path: Path) -> dict[str, Any]:
    damage: list[str] = []
    cfg = read_run_config(path / "config.yaml", damage)
    if damage:
        raise CheckpointError(f"{path} cannot be compared: {damage[0]}")
    return cfg


def _shown(value: Any) -> Any:
    """A config value as YAML wrote it (null, not None), so equal values compare equal."""
    return "null" if value is None else value
