"""Run directories: creation (never overwriting), meta.json, train.log and the metrics files."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError, ConfigError
from engine.io import atomic_write
from trainer import run_lock

WRITTEN_FILES = ("config.yaml", "meta.json", "train.log", "metrics.jsonl", "metrics.csv",
                 "eval.json")
WRITTEN_FOLDERS = ("tb",)  # TensorBoard event files (trainer.tensorboard)
METRIC_COLUMNS = ("kind", "epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc",
                  "test_loss", "test_acc", "lr", "epoch_seconds", "samples_per_s")


def is_regular(path: Path) -> bool:
    """True for a regular file (after links); False for a FIFO, device, folder or nothing."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def write_atomic(path: Path, text: str) -> None:
    """Write text to path via a temp file and a rename, so readers never see half a file."""
    try:
        with atomic_write(path, "w", fsync=True, encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:  # disk full, read-only folder: the old file (if any) is intact
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}") from None


class RunDir:
    """One run's folder: runs/<name>-<YYYYmmdd-HHMMSS>/ with config, meta, logs and checkpoints."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    @classmethod
    def create(cls, parent: str | Path, name: str, exact: str | Path | None = None) -> RunDir:
        """Make a new, empty run folder; an existing one is never reused (a suffix is added)."""
        base = Path(exact) if exact is not None else (
            Path(parent) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
        if exact is not None and (base.is_symlink() or base.exists()) and not base.is_dir():
            raise ConfigError(f"--run-dir {base} exists and is not a folder; pass a new or an "
                              "empty folder")
        base.parent.mkdir(parents=True, exist_ok=True)
        candidate, n, run, made = base, 1, None, None
        try:
            while run is None:
                try:
                    candidate.mkdir()  # atomic: two runs started in the same second get two
                    made = candidate
                    run = cls(candidate)
                    run.lock()  # a second process that raced for the same empty folder stops
                except FileExistsError:
                    if exact is not None and candidate == base:
                        run = cls._claim_unstarted(candidate)  # an empty folder made for it
                    candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
            (run.path / "checkpoints").mkdir(exist_ok=True)
        except KeyboardInterrupt:
            if made is not None:  # Ctrl-C while making it: the empty folder goes, as it came
                shutil.rmtree(made, ignore_errors=True)
            if run is not None:
                run.release()
            raise
        return run

    @classmethod
    def _claim_unstarted(cls, path: Path) -> RunDir | None:
        """path, locked for this process, if it is an empty folder; None for a started run;
        RunInUseError if a live process writes or sets up a run there."""
        if (path / "config.yaml").exists():
            run_lock.check_free(path)  # a started run: refused if live, else never reused
            return None
        run = cls(path)
        run.lock()  # whoever locks first of two racing starts gets the folder
        names = {p.name for p in path.iterdir()}
        checkpoints = path / "checkpoints"
        if names <= {run_lock.LOCK_FILE, "checkpoints"} and (
                not checkpoints.is_dir() or not any(checkpoints.iterdir())):
            return run
        run.release()
        return None

    def lock(self) -> None:
        """Become the folder's only writer; RunInUseError (exit 2) names a live holder's pid."""
        if self._lock_fd is None:
            self._lock_fd = run_lock.acquire(self.path)

    def release(self) -> None:
        """Give up the writer's lock (a dead process's lock is released by the kernel)."""
        run_lock.release(self._lock_fd)
        self._lock_fd = None

    def refuse_links(self) -> None:
        """CheckpointError if a file this run writes is a symbolic link (never written through)
        or not a regular file (a FIFO would block the reader, a folder fail the writer)."""
        for name in WRITTEN_FILES:
            path = self.path / name
            if path.is_symlink():
                raise CheckpointError(f"{path} is a symbolic link; run-folder files are never "
                                      "written through links: remove it, then resume")
            if path.exists() and not is_regular(path):
                raise CheckpointError(f"{path} is not a regular file; remove it, then resume")
        for name in WRITTEN_FOLDERS:
            path = self.path / name
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                raise CheckpointError(f"{path} is a symbolic link or not a folder; run-folder "
                                      "files are never written through links: remove it, then "
                                      "resume")

    def discard_unstarted(self) -> None:
        """Remove a new run's folder that holds no checkpoint yet (nothing of value in it)."""
        if not (self.checkpoints / "last").exists():
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
        path = self.path / "meta.json"
        try:
            meta = json.loads(path.read_text(errors="replace")) if is_regular(path) else {}
        except (OSError, ValueError, RecursionError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace meta.json."""
        write_atomic(self.path / "meta.json", json.dumps(meta, indent=2, default=str) + "\n")

    def log(self, line: str) -> None:
        """Append one line to train.log."""
        with _append(self.path / "train.log") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def append_metrics(self, *rows: dict[str, Any]) -> None:
        """Append rows to metrics.jsonl and metrics.csv (fixed columns, blanks where unset)."""
        rows = tuple({k: row.get(k) for k in METRIC_COLUMNS} for row in rows)
        with _append(self.path / "metrics.jsonl") as f:
            f.write(_jsonl(rows))
        csv_path = self.path / "metrics.csv"
        header = not csv_path.exists()
        with _append(csv_path) as f:
            f.write(_csv(rows, header))

    def read_metrics(self) -> list[dict[str, Any]]:
        """Rows of metrics.jsonl (a torn last line from a killed run is skipped)."""
        rows: list[dict[str, Any]] = []
        path = self.path / "metrics.jsonl"
        try:
            if not is_regular(path):
                return rows
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return rows
        for line in lines:
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def truncate_metrics(self, step: int) -> None:
        """Drop rows logged after step (a resumed run logs them again); each file is replaced
        whole by a rename, so a kill at any moment leaves every metrics file complete."""
        rows = [{k: r.get(k) for k in METRIC_COLUMNS} for r in self.read_metrics()
                if isinstance(r, dict) and isinstance(r.get("step"), int)
                and r["step"] <= step and r.get("kind") != "test"]
        write_atomic(self.path / "metrics.jsonl", _jsonl(rows))
        write_atomic(self.path / "metrics.csv", _csv(rows, header=True))


class _append:  # noqa: N801 - used like open()
    """open(path, "a") that refuses a symbolic link and names the file when a write fails."""

    def __init__(self, path: Path, binary: bool = False) -> None:
        self.path, self.binary = path, binary

    def __enter__(self) -> Any:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise self._error(exc) from None
        self.file = os.fdopen(fd, "ab") if self.binary else os.fdopen(fd, "a", encoding="utf-8",
                                                                       newline="")
        return self.file

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            self.file.close()
        except OSError as error:
            if exc is None:
                raise self._error(error) from None
        if isinstance(exc, OSError):
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> CheckpointError:
        if exc.errno == errno.ELOOP:
            return CheckpointError(f"{self.path} is a symbolic link; run-folder files are never "
                                   "written through links: remove it")
        return CheckpointError(f"cannot write {self.path}: {exc.strerror or exc}")


def append_bytes(path: Path) -> Any:
    """open(path, "ab") as a context manager, refusing links like the run's text files."""
    return _append(path, binary=True)


def _jsonl(rows: Any) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def _csv(rows: Any, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(METRIC_COLUMNS)
    writer.writerows(["" if row[k] is None else row[k] for k in METRIC_COLUMNS] for row in rows)
    return out.getvalue()


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
    for pkg in ("gradwell", "numpy", "cupy", "pyyaml", "typer"):
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
    """A summary per run folder under parent (see trainer.run_list); damaged runs are marked."""
    from trainer.run_list import list_runs as list_all

    return list_all(parent)
