"""`trainer runs`: one summary row per run folder, a damaged run marked instead of failing all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.runs import RunDir, is_regular


def list_runs(parent: str | Path) -> list[dict[str, Any]]:
    """A summary per run folder under parent: name, model, epochs, best val acc, test acc, time.

    A run whose files are damaged is listed with status "damaged (<file>: <why>)".
    """
    out = []
    parent = Path(parent)
    if not parent.is_dir():
        return out
    for path in sorted(parent.iterdir()):
        try:
            if not (path / "config.yaml").is_file():
                continue
        except OSError:
            continue
        out.append(summarize(path))
    return out


def summarize(path: Path) -> dict[str, Any]:
    """One run's row for `trainer runs`; never raises for damaged files."""
    row: dict[str, Any] = {"run": path.name, "model": "?", "epochs": "?", "best_val_acc": None,
                           "test_acc": None, "seconds": None, "status": "incomplete"}
    damage = []
    cfg = read_run_config(path / "config.yaml", damage)
    meta = RunDir(path).read_meta() if (path / "meta.json").exists() else {}  # {} if damaged
    if not isinstance(meta, dict) or ((path / "meta.json").exists() and not meta):
        damage.append("meta.json: not a JSON object")
        meta = {}
    rows, bad_rows = read_rows(path / "metrics.jsonl")
    if bad_rows:
        damage.append(f"metrics.jsonl: {bad_rows} unreadable row(s)")
    model, train = cfg.get("model"), cfg.get("train")
    name = model.get("name") if isinstance(model, dict) else None
    row["model"] = name if isinstance(name, str) else "?"
    total = train.get("epochs") if isinstance(train, dict) else None
    epochs = [r for r in rows if r.get("kind") == "epoch"]
    row["epochs"] = f"{len(epochs)}/{total}" if is_number(total) else str(len(epochs))
    vals = [r["val_acc"] for r in epochs if is_number(r.get("val_acc"))]
    tests = [r["test_acc"] for r in rows
             if r.get("kind") == "test" and is_number(r.get("test_acc"))]
    row["best_val_acc"] = max(vals) if vals else None
    row["test_acc"] = tests[-1] if tests else None
    result = meta.get("result")
    result = result if isinstance(result, dict) else {}
    seconds, status = result.get("train_seconds"), result.get("status")
    row["seconds"] = seconds if is_number(seconds) else None
    row["status"] = status if isinstance(status, str) else "incomplete"
    if damage:
        row["status"] = f"damaged ({'; '.join(damage)})"
    return row


def is_number(value: Any) -> bool:
    """True for an int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


MAX_LISTED_BYTES = 2**20  # a resolved config.yaml is a few kB


def read_run_config(path: Path, damage: list[str]) -> dict[str, Any]:
    """A run's config.yaml as a dict, or {} with the reason appended to damage."""
    import yaml

    try:
        if not is_regular(path):
            damage.append("config.yaml: not a regular file")
            return {}
        if path.stat().st_size > MAX_LISTED_BYTES:
            damage.append("config.yaml: larger than 1 MB")
            return {}
        text = path.read_text(encoding="utf-8")
        # the trainer never writes aliases; one in a run's config is tampering (or an alias bomb)
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
            damage.append("config.yaml: uses YAML aliases")
            return {}
        cfg = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError, RecursionError) as exc:
        damage.append(f"config.yaml: {type(exc).__name__}")
        return {}
    if not isinstance(cfg, dict):
        damage.append("config.yaml: not a mapping")
        return {}
    return cfg


def read_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(rows, count of unreadable rows) of a metrics.jsonl; a torn last line is not damage."""
    try:
        if not path.exists():
            return [], 0
        if not is_regular(path) or path.stat().st_size > 256 * MAX_LISTED_BYTES:
            return [], 1
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return [], 0
    rows, bad = [], 0
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            row = None
        if isinstance(row, dict):
            rows.append(row)
        elif i < len(lines) - 1 or row is not None:
            bad += 1
    return rows, bad
