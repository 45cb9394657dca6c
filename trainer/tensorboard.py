"""TensorBoard event files under <run>/tb/: a loop callback; the one module importing tensorboardX.

train.tensorboard: null (auto) writes them when tensorboardX is installed, true requires it,
false never writes them. Each record is appended and the file closed at once, so a killed run
loses nothing already logged and needs no cleanup; a resumed run starts a new event file whose
first event tells TensorBoard to drop what the earlier file logged after the checkpoint's step.
Only tensorboardX's protobuf classes, summary builders and CRC are used, not its SummaryWriter
(whose queue and thread would hold the file open). tensorboardX tries to import PyTorch, which
costs a second when it is installed; _import_tensorboardx keeps it from doing so.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError, ConfigError
from trainer.loop import Callbacks, TrainState

INSTALL_HINT = "train.tensorboard: true needs tensorboardX: pip install 'gradwell[tb]'"
FOLDER = "tb"

# (row key, tag) written at every logging step and at every epoch's end.
STEP_TAGS = (("train_loss", "train/loss"), ("train_acc", "train/acc"), ("lr", "train/lr"))
EPOCH_TAGS = (("train_loss", "epoch/train_loss"), ("train_acc", "epoch/train_acc"),
              ("val_loss", "val/loss"), ("val_acc", "val/acc"), ("lr", "epoch/lr"))
# meta.json result key -> hparams metric tag (unique: TensorBoard pairs a metric with its tag).
FINAL_METRICS = (("test_acc", "hparam/test_acc"), ("test_loss", "hparam/test_loss"),
                 ("best_val_acc", "hparam/best_val_acc"))


def available() -> bool:
    """Whether tensorboardX imports (a broken install counts as missing, never a failed run)."""
    try:
        _import_tensorboardx()
    except Exception:  # noqa: BLE001 - ImportError, or a protobuf mismatch inside tensorboardX
        return False
    return True


def enabled(cfg: Any) -> bool:
    """Whether a run of cfg writes tb/; ConfigError when it must but tensorboardX is missing."""
    setting = cfg.train.tensorboard
    if setting is None:
        return available()
    if setting and not available():
        from trainer.config import marks_of
        from trainer.yaml_source import where

        raise ConfigError(f"{where(marks_of(cfg), 'train.tensorboard')}: {INSTALL_HINT}")
    return bool(setting)


class Chain(Callbacks):
    """Hands every callback from fit to each of several Callbacks, in order."""

    def __init__(self, *callbacks: Callbacks) -> None:
        self.callbacks = callbacks

    def start_epoch(self, epoch: int, batches: int, done: int) -> None:
        """Each one's start_epoch."""
        for cb in self.callbacks:
            cb.start_epoch(epoch, batches, done)

    def after_step(self, state: TrainState, loss: float, lr: float) -> None:
        """Each one's after_step."""
        for cb in self.callbacks:
            cb.after_step(state, loss, lr)

    def log_step(self, row: dict[str, Any]) -> None:
        """Each one's log_step."""
        for cb in self.callbacks:
            cb.log_step(row)

    def end_epoch(self, row: dict[str, Any], state: TrainState, improved: bool) -> None:
        """Each one's end_epoch."""
        for cb in self.callbacks:
            cb.end_epoch(row, state, improved)

    def checkpoint(self, state: TrainState) -> None:
        """Each one's checkpoint."""
        for cb in self.callbacks:
            cb.checkpoint(state)

    def stop_requested(self) -> bool:
        """True when any of them asks to stop."""
        return any([cb.stop_requested() for cb in self.callbacks])


def _import_tensorboardx() -> None:
    """Import tensorboardX while `import torch` fails, so its optional PyTorch import is skipped.

    Why: with PyTorch installed that import added ~1.3 s to every run's start, and the parts used
    here (protobuf classes, summary builders on NumPy values, the CRC) never touch PyTorch.
    """
    if "tensorboardX" in sys.modules:
        return
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        import tensorboardX  # noqa: F401
    finally:
        if hide:
            sys.modules.pop("torch", None)


class Board(Callbacks):
    """Writes a run's scalars and, at the end, its hparams entry to one event file in tb/."""

    def __init__(self, run_path: Path, start_step: int, hparams: dict[str, Any]) -> None:
        _import_tensorboardx()
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        folder = Path(run_path) / FOLDER
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise CheckpointError(f"{folder} is not a folder (or is a symbolic link); remove it, "
                                  "then resume")
        folder.mkdir(exist_ok=True)
        self.hparams, self.step = hparams, start_step
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{start_step}"
        self.path = folder / name
        first = [Event(wall_time=time.time(), file_version="brain.Event:2")]
        if start_step:  # resumed: what an earlier file logged from this step on is superseded
            first.append(Event(wall_time=time.time(), step=start_step,
                               session_log=SessionLog(status=SessionLog.START)))
        self._write(first)

    def log_step(self, row: dict[str, Any]) -> None:
        """train/loss, train/acc and train/lr of one logging step."""
        self._scalars(row, STEP_TAGS)

    def end_epoch(self, row: dict[str, Any], state: TrainState, improved: bool) -> None:
        """The epoch's train and validation loss/accuracy and learning rate."""
        self._scalars(row, EPOCH_TAGS)

    def close(self, result: dict[str, Any] | None) -> None:
        """Write the hparams entry: the config's values with the final metrics of result."""
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.summary import hparams, scalar

        metrics = {tag: float(result[key]) for key, tag in FINAL_METRICS
                   if isinstance((result or {}).get(key), int | float)}
        now, step = time.time(), int((result or {}).get("steps") or self.step)
        events = [Event(wall_time=now, step=step, summary=s)
                  for s in hparams(self.hparams, metrics)]
        events += [Event(wall_time=now, step=step, summary=scalar(tag, value))
                   for tag, value in metrics.items()]
        self._write(events)

    def _scalars(self, row: dict[str, Any], tags: tuple[tuple[str, str], ...]) -> None:
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        self.step = int(row["step"])
        values = [Summary.Value(tag=tag, simple_value=float(row[key])) for key, tag in tags
                  if isinstance(row.get(key), int | float)]
        self._write([Event(wall_time=time.time(), step=self.step,
                           summary=Summary(value=values))])

    def _write(self, events: list[Any]) -> None:
        from trainer.runs import append_bytes

        with append_bytes(self.path) as f:
            f.write(b"".join(_record(e.SerializeToString()) for e in events))


class NoBoard(Callbacks):
    """train.tensorboard off: nothing is written."""

    def close(self, result: dict[str, Any] | None) -> None:
        """Nothing to write."""


def _record(data: bytes) -> bytes:
    """One TFRecord: length (uint64), its masked CRC-32C, the data, the data's masked CRC-32C."""
    from tensorboardX.record_writer import masked_crc32c

    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) + data
            + struct.pack("<I", masked_crc32c(data)))


def hparam_values(cfg: Any) -> dict[str, Any]:
    """The config as flat hparams: numbers, strings and booleans; lists as text; nulls dropped."""
    from trainer.config import flatten, to_dict

    out: dict[str, Any] = {}
    for key, value in flatten(to_dict(cfg)).items():
        if isinstance(value, bool | int | float | str):
            out[key] = value
        elif value is not None and value != {}:
            out[key] = str(value)
    return out


def open_board(cfg: Any, run_path: Path, start_step: int) -> Board | NoBoard:
    """The run's Board when train.tensorboard is on, else a NoBoard."""
    if not enabled(cfg):
        return NoBoard()
    return Board(run_path, start_step, hparam_values(cfg))
