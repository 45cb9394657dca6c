"""Checkpoint folders (model.safetensors, optimizer.safetensors, state.json), swapped in atomically.

A new checkpoint is written into checkpoints/.tmp-*, fsynced, then swapped in:
rename last -> last.old, rename tmp -> last, remove last.old. A SIGKILL at any moment leaves either
`last` or `last.old` complete, and loading falls back to `last.old` when `last` is missing.
Files are never changed once written, so best and epoch-NNNN hard-link last's files.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import CheckpointError
from engine.io import fsync_dir

if TYPE_CHECKING:
    from trainer.runs import RunDir

MODEL_FILE, OPTIM_FILE, STATE_FILE = "model.safetensors", "optimizer.safetensors", "state.json"
MAX_STATE_BYTES = 16 * 2**20  # a state.json is a few kB; refuse to parse a planted huge one


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link src (no bytes rewritten); copy and fsync it where links are not supported."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
        _fsync_file(Path(dst))


def _new_tmp(folder: Path) -> Path:
    tmp = folder / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir(parents=True)
    return tmp


def _publish(tmp: Path, target: Path) -> None:
    """Swap a complete tmp folder (its files already fsynced) in as target, loadable throughout."""
    fsync_dir(tmp)
    old = target.with_name(target.name + ".old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)  # a leftover from a swap killed after its second rename
        os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        if old.exists() and not target.exists():
            os.rename(old, target)  # put the previous checkpoint back under its name
        raise
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(folder: str | Path, name: str, model_state: dict[str, Any],
                    optim_state: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write checkpoint folder/name atomically; return its path."""
    import engine

    folder = Path(folder)
    tmp = None
    try:
        tmp = _new_tmp(folder)
        engine.save(model_state, tmp / MODEL_FILE)  # engine.save fsyncs
        engine.save(optim_state, tmp / OPTIM_FILE)
        with open(tmp / STATE_FILE, "w", encoding="utf-8") as f:
            f.write(json.dumps(state, indent=1))
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, folder / name)
    except (OSError, CheckpointError) as exc:
        raise _write_failed(folder / name, exc) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder / name


def _write_failed(target: Path, exc: Exception) -> CheckpointError:
    """One line for a failed checkpoint write (disk full, ...): the file and the last good one."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and exc.filename:
        reason = f"{reason}: {exc.filename}"
    try:
        last = resolve(target.parent / "last")
        kept = f"the last good checkpoint is {last}"
    except CheckpointError:
        kept = "no checkpoint was written before"
    return CheckpointError(f"cannot write checkpoint {target} ({reason}); {kept}. Free space "
                           "(or fix the folder), then resume")


def copy_checkpoint(src: str | Path, folder: str | Path, name: str) -> Path:
    """Publish a copy of checkpoint src as folder/name (for best and epoch-NNNN)."""
    folder = Path(folder)
    tmp = folder / f".tmp-{uuid.uuid4().hex[:12]}"
    try:
        shutil.copytree(src, tmp, copy_function=_link_or_copy)
        _publish(tmp, folder / name)
    except (OSError, shutil.Error) as exc:
        raise _write_failed(folder / name, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder / name


def clean_tmp(folder: str | Path) -> None:
    """Remove temp folders that a killed run left behind."""
    for p in Path(folder).glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)


def prune(folder: str | Path, keep_last: int) -> None:
    """Keep only the newest keep_last epoch-NNNN checkpoints."""
    epochs = sorted(p for p in Path(folder).glob("epoch-*") if not p.name.endswith(".old"))
    for p in epochs[: max(0, len(epochs) - keep_last)]:
        shutil.rmtree(p, ignore_errors=True)


def resolve(path: str | Path, which: str = "last") -> Path:
    """A checkpoint folder from a run dir (its checkpoints/<which>) or a checkpoint path."""
    path = Path(path)
    if (path / "checkpoints").is_dir():
        path = path / "checkpoints" / which
    if not path.exists():
        old = path.with_name(path.name + ".old")
        if old.is_dir():
            return old  # killed between the two renames of a swap: the previous one is whole
        raise CheckpointError(f"checkpoint {path} not found; pass a run directory or a "
                              "checkpoint folder (checkpoints/last, checkpoints/best)")
    return path


def run_dir_of(ckpt: Path) -> Path:
    """The run folder a checkpoint folder belongs to (runs/X/checkpoints/last -> runs/X)."""
    return ckpt.resolve().parent.parent


def load_checkpoint(path: str | Path, which: str = "last") -> dict[str, Any]:
    """Read a checkpoint: {'path', 'model', 'optimizer', 'state'}; CheckpointError if damaged."""
    import engine

    ckpt = resolve(path, which)
    state_path = ckpt / STATE_FILE
    if state_path.exists() and not state_path.is_file():
        raise CheckpointError(f"{state_path} is not a regular file; the checkpoint is damaged")
    try:
        if state_path.stat().st_size > MAX_STATE_BYTES:
            raise CheckpointError(f"{state_path} is {state_path.stat().st_size} bytes, far more "
                                  "than a trainer state; the checkpoint is damaged")
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except OSError:
        raise CheckpointError(f"{state_path} is missing; the checkpoint is incomplete") from None
    except (ValueError, RecursionError):
        raise CheckpointError(f"{state_path} is not valid JSON (truncated or corrupt); use "
                              "another checkpoint") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{state_path} is damaged: it holds a {type(state).__name__}, not "
                              "an object")
    out: dict[str, Any] = {"path": ckpt, "state": state}
    for key, name in (("model", MODEL_FILE), ("optimizer", OPTIM_FILE)):
        file = ckpt / name
        if not file.is_file():
            raise CheckpointError(f"{file} is missing; the checkpoint is incomplete")
        try:
            # onto the host: a run trained on a GPU loads on a machine without one, and
            # load_state_dict then copies each tensor to wherever the model is
            out[key] = engine.load(file, map_location="cpu")
        except CheckpointError:
            raise  # engine.load's message names the file and what is wrong with it
        except Exception as exc:  # a damaged tree that still matches its digest, say
            raise CheckpointError(f"{file} cannot be read ({type(exc).__name__}: {exc}); the "
                                  "file is truncated or corrupt, use another checkpoint") from None
    return out


def load_run(target: str | Path, which: str = "last",
             overrides: list[str] | tuple[str, ...] = ()) -> tuple[RunDir, dict[str, Any], Any]:
    """(run, checkpoint, config) for a run directory's checkpoints/<which> or a checkpoint folder.

    The config is the run's stored config.yaml with the dotted overrides applied.
    """
    from trainer import config as config_mod
    from trainer.runs import RunDir

    target = Path(target)
    is_run = (target / "config.yaml").is_file()
    ckpt = load_checkpoint(target, which) if is_run else load_checkpoint(target)
    run = RunDir.open(target if is_run else run_dir_of(ckpt["path"]))
    return run, ckpt, config_mod.load(run.config_path, overrides)
