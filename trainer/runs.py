"""Run directories: creation (never overwriting), meta.json, train.log and the metrics files."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from engine.fileio import atomic_write

METRIC_COLUMNS = ("kind", "epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc",
                  "test_loss", "test_acc", "lr", "epoch_seconds", "samples_per_s")


def write_atomic(path: Path, text: str) -> None:
    """Write text to path via a temp file and a rename, so readers never see half a file."""
    with atomic_write(path, "w", fsync=True, encoding="utf-8") as f:
        f.write(text)


class RunDir:
    """One run's folder: runs/<name>-<YYYYmmdd-HHMMSS>/ with config, meta, logs and checkpoints."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, parent: str | Path, name: str, exact: str | Path | None = None) -> RunDir:
        """Make a new, empty run folder; an existing one is never reused (a suffix is added)."""
        base = Path(exact) if exact is not None else (
            Path(parent) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
        base.parent.mkdir(parents=True, exist_ok=True)
        candidate, n = base, 1
        while True:
            try:
                candidate.mkdir()  # atomic: two runs started in the same second get two folders
                break
            except FileExistsError:
                if exact is not None and candidate == base and not any(candidate.iterdir()):
                    break  # an empty folder the user made for this run
                candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
        run = cls(candidate)
        (run.path / "checkpoints").mkdir(exist_ok=True)
        return run

    def discard_if_unstarted(self) -> None:
        """Remove a run folder that setup left without a config (nothing of value in it)."""
        if not self.config_path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run folder (for resume, eval); raises CheckpointError if it is not one."""
        run = cls(path)
        if not (run.path / "config.yaml").is_file():
            raise CheckpointError(f"{run.path} is not a run directory (no config.yaml); pass the "
                                  "folder `trainer train` created, e.g. runs/<name>-<time>")
        return run

    @property
    def checkpoints(self) -> Path:
        """Folder of the checkpoints (last, best, epoch-NNNN)."""
        return self.path / "checkpoints"

    @property
    def config_path(self) -> Path:
        """The resolved config.yaml."""
        return self.path / "config.yaml"

    def write_config(self, text: str) -> None:
        """Write the resolved config (YAML text)."""
        write_atomic(self.config_path, text)

    def read_meta(self) -> dict[str, Any]:
        """meta.json as a dict ({} if absent or unreadable)."""
        try:
            return json.loads((self.path / "meta.json").read_text())
        except (OSError, ValueError):
            return {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace meta.json."""
        write_atomic(self.path / "meta.json", json.dumps(meta, indent=2, default=str) + "\n")

    def log(self, line: str) -> None:
        """Append one line to train.log."""
        with open(self.path / "train.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def append_metrics(self, *rows: dict[str, Any]) -> None:
        """Append rows to metrics.jsonl and metrics.csv (fixed columns, blanks where unset)."""
        rows = tuple({k: row.get(k) for k in METRIC_COLUMNS} for row in rows)
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
        csv_path = self.path / "metrics.csv"
        new = not csv_path.exists()
        with open(csv_path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(METRIC_COLUMNS)
            writer.writerows(["" if row[k] is None else row[k] for k in METRIC_COLUMNS]
                             for row in rows)

    def read_metrics(self) -> list[dict[str, Any]]:
        """Rows of metrics.jsonl (a torn last line from a killed run is skipped)."""
        rows = []
        try:
            lines = (self.path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError:
            return rows
        for line in lines:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows

    def truncate_metrics(self, step: int) -> None:
        """Drop rows logged after step (a resumed run logs them again)."""
        rows = [r for r in self.read_metrics()
                if r.get("step") is not None and r["step"] <= step and r.get("kind") != "test"]
        for name in ("metrics.jsonl", "metrics.csv"):
            (self.path / name).unlink(missing_ok=True)
        if rows:
            self.append_metrics(*rows)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def git_commit(cwd: str | Path = ".") -> str | None:
    """The current git commit of cwd, or None when git or a repository is absent."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("gradwell", "numpy", "cupy", "safetensors", "pyyaml", "typer"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def make_meta(cfg: Any, checksums: dict[str, str]) -> dict[str, Any]:
    """meta.json's contents at the start of a run."""
    return {
        "argv": sys.argv, "cwd": os.getcwd(), "versions": versions(), "seed": cfg.seed,
        "device": cfg.device, "dataset": cfg.data.dataset, "dataset_checksums": checksums,
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def list_runs(parent: str | Path) -> list[dict[str, Any]]:
    """A summary per run folder under parent: name, model, epochs, best val acc, test acc, time."""
    import yaml

    out = []
    parent = Path(parent)
    if not parent.is_dir():
        return out
    for path in sorted(p for p in parent.iterdir() if (p / "config.yaml").is_file()):
        run = RunDir(path)
        try:
            cfg = yaml.safe_load(run.config_path.read_text()) or {}
        except (OSError, ValueError, yaml.YAMLError):
            cfg = {}
        rows, meta = run.read_metrics(), run.read_meta()
        epochs = [r for r in rows if r.get("kind") == "epoch"]
        vals = [r["val_acc"] for r in epochs if r.get("val_acc") is not None]
        tests = [r["test_acc"] for r in rows if r.get("kind") == "test"]
        total = (cfg.get("train") or {}).get("epochs")
        out.append({
            "run": path.name, "model": (cfg.get("model") or {}).get("name", "?"),
            "epochs": f"{len(epochs)}/{total}" if total else str(len(epochs)),
            "best_val_acc": max(vals) if vals else None,
            "test_acc": tests[-1] if tests else None,
            "seconds": meta.get("result", {}).get("train_seconds"),
            "status": meta.get("result", {}).get("status", "incomplete"),
        })
    return out
