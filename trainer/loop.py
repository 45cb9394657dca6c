"""fit / evaluate as library functions; run-directory side effects live in callbacks."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import engine
import engine.nn.functional as F
from engine.errors import EngineError
from engine.nn.utils import clip_grad_norm_
from trainer import parallel


class Interrupted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Training stopped on request (signal or test hook) after a checkpoint was written."""


class NonFiniteLoss(EngineError):
    """The loss became NaN or infinite; carries what is needed to replay the step."""

    def __init__(self, step: int, epoch: int, value: float, batch: Any, rng_state: Any) -> None:
        super().__init__(f"non-finite loss {value} at step {step} (epoch {epoch + 1})")
        self.step, self.epoch, self.value = step, epoch, value
        self.batch, self.rng_state = batch, rng_state


@dataclass
class TrainState:
    """Counters that a checkpoint stores so a resumed run continues exactly."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0  # epochs completed
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the monitored metric last improved (early stopping)
    finished: bool = False
    stopped_early: bool = False
    # Sums over the epoch in progress and over the current logging window.
    sums: dict[str, float] = field(default_factory=lambda: {
        "loss": 0.0, "correct": 0.0, "count": 0.0, "seconds": 0.0,
        "win_loss": 0.0, "win_correct": 0.0, "win_count": 0.0})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        """Inverse of to_dict."""
        return cls(**d)


class Callbacks:
    """What fit reports to; the defaults do nothing (subclass to write files, show progress)."""

    def start_epoch(self, epoch: int, batches: int, done: int) -> None:
        """An epoch (numbered from 0) begins, done batches of it already taken."""

    def after_step(self, state: TrainState, loss: float, lr: float) -> None:
        """One optimizer step finished."""

    def log_step(self, row: dict[str, Any]) -> None:
        """Averages over the last train.log_every_steps steps."""

    def end_epoch(self, row: dict[str, Any], state: TrainState, improved: bool) -> None:
        """An epoch finished and was validated; improved: the monitored metric is the best yet."""

    def checkpoint(self, state: TrainState) -> None:
        """Save `last` now (mid-epoch)."""

    def stop_requested(self) -> bool:
        """True to stop after the current step (a checkpoint is written first)."""
        return False


def evaluate(model: Any, loader: Any, num_classes: int | None = None) -> dict[str, Any]:
    """Mean cross-entropy, accuracy and (with num_classes) a confusion matrix over loader."""
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    confusion = np.zeros((num_classes, num_classes), np.int64) if num_classes else None
    try:
        with engine.no_grad():
            for images, labels in loader:
                logits = model(images)
                loss_sum += float(F.cross_entropy(logits, labels, reduction="sum").item())
                pred = logits.argmax(dim=1)
                correct += int((pred == labels).sum().item())
                count += len(labels)
                if confusion is not None:
                    np.add.at(confusion, (labels.cpu().numpy(), pred.cpu().numpy()), 1)
    finally:
        model.train(was_training)
    # Data-parallel: each rank scored its own shard (trainer.parallel; one process: unchanged).
    loss_sum, correct, count = parallel.sum_over_ranks(loss_sum, correct, count)
    count, correct = int(count), int(correct)
    if confusion is not None:
        parallel.sum_array_over_ranks(confusion)
    out: dict[str, Any] = {"loss": loss_sum / max(count, 1), "acc": correct / max(count, 1),
                           "count": count}
    if confusion is not None:
        out["confusion"] = confusion
    return out


def monitor_mode(monitor: str, mode: str) -> str:
    """'max' or 'min' for the monitored metric ('auto': max for accuracies)."""
    return mode if mode != "auto" else ("max" if monitor.endswith("acc") else "min")


def _improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


_FLOAT32 = contextlib.nullcontext()  # the region of a step without train.amp


def train_step(model: Any, optimizer: Any, images: Any, labels: Any,
               grad_clip: float | None, amp: Any = None) -> tuple[float, int]:
    """One forward/backward/update; returns (loss, correct predictions). Raises on NaN loss."""
    # amp (trainer.amp.Amp): forward and loss under autocast, backward and step through its
    # GradScaler; amp.skipped then tells whether overflowed gradients skipped the step.
    optimizer.zero_grad()
    with amp.autocast() if amp is not None else _FLOAT32:
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
    value = float(loss.item())
    if not math.isfinite(value):
        raise FloatingPointError(value)
    if amp is not None:
        amp.backward_and_step(loss, optimizer, model.parameters(), grad_clip)
    else:
        loss.backward()
        if grad_clip is not None:
            clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    correct = int((logits.detach().argmax(dim=1) == labels).sum().item())
    return value, correct


def fit(model: Any, optimizer: Any, train_loader: Any, val_loader: Any | None, train_cfg: Any,
        scheduler: Any = None, scheduler_interval: str = "epoch",
        state: TrainState | None = None, callbacks: Callbacks | None = None,
        amp: Any = None) -> TrainState:
    """Train until train_cfg.epochs / max_steps, early stopping or a stop request."""
    state, cb = state or TrainState(), callbacks or Callbacks()
    cfg, s = train_cfg, state.sums
    mode = monitor_mode(cfg.monitor, cfg.mode)
    model.train()
    while not state.finished:
        if cfg.epochs is not None and state.epoch >= cfg.epochs:
            state.finished = True
            break
        batches = len(train_loader)
        done = train_loader.state_dict()["position"]  # > 0 when resuming mid-epoch
        cb.start_epoch(state.epoch, batches, done)
        t0 = time.perf_counter() - s["seconds"]
        hit_max = False
        for position, (images, labels) in enumerate(train_loader, start=done + 1):
            rng = engine.get_rng_state()
            try:
                loss, correct = train_step(model, optimizer, images, labels, cfg.grad_clip, amp)
            except FloatingPointError as exc:
                raise NonFiniteLoss(state.step + 1, state.epoch, exc.args[0], (images, labels),
                                    rng) from None
            loss, correct, n = parallel.step_totals(loss, correct, len(labels))  # all ranks'
            state.step += 1
            for key, value in (("loss", loss * n), ("correct", correct), ("count", n)):
                s[key] += value
                s["win_" + key] += value
            s["seconds"] = time.perf_counter() - t0
            # A step skipped for overflowed gradients does not advance the schedule (PyTorch's
            # issue 44511: otherwise the schedule runs ahead of the optimizer's steps).
            if scheduler is not None and scheduler_interval == "step" and not (
                    amp is not None and amp.skipped):
                scheduler.step()
            lr = optimizer.param_groups[0]["lr"]
            cb.after_step(state, loss, lr)
            if state.step % cfg.log_every_steps == 0:
                cb.log_step({"kind": "step", "epoch": state.epoch + 1, "step": state.step,
                             "train_loss": s["win_loss"] / s["win_count"],
                             "train_acc": s["win_correct"] / s["win_count"], "lr": lr,
                             "samples_per_s": s["count"] / max(s["seconds"], 1e-9)})
                s["win_loss"] = s["win_correct"] = s["win_count"] = 0.0
            if cfg.max_steps is not None and state.step >= cfg.max_steps:
                hit_max = True
                break
            if position < batches:  # at an epoch's end the epoch checkpoint comes first
                if cfg.checkpoint_every_steps and state.step % cfg.checkpoint_every_steps == 0:
                    cb.checkpoint(state)
                if cb.stop_requested():
                    cb.checkpoint(state)
                    raise Interrupted
        _end_epoch(model, optimizer, val_loader, cfg, scheduler, scheduler_interval, state, cb,
                   mode, time.perf_counter() - t0)
        if hit_max:
            state.finished = True
        if state.finished:
            break
        if cb.stop_requested():
            raise Interrupted
    return state


def _end_epoch(model: Any, optimizer: Any, val_loader: Any, cfg: Any, scheduler: Any,
               interval: str, state: TrainState, cb: Callbacks, mode: str,
               seconds: float) -> None:
    s = state.sums
    row: dict[str, Any] = {
        "kind": "epoch", "epoch": state.epoch + 1, "step": state.step,
        "train_loss": s["loss"] / max(s["count"], 1),
        "train_acc": s["correct"] / max(s["count"], 1),
        "lr": optimizer.param_groups[0]["lr"], "epoch_seconds": seconds,
        "samples_per_s": s["count"] / max(seconds, 1e-9),
    }
    if val_loader is not None:
        val = evaluate(model, val_loader)
        row["val_loss"], row["val_acc"] = val["loss"], val["acc"]
    state.epoch += 1
    value = row[cfg.monitor]
    improved = _improved(value, state.best, mode, cfg.min_delta)
    if improved:
        state.best, state.best_epoch, state.bad_epochs = value, state.epoch, 0
    else:
        state.bad_epochs += 1
        if cfg.patience is not None and state.bad_epochs >= cfg.patience:
            state.finished = state.stopped_early = True
    if scheduler is not None and interval == "epoch":
        if isinstance(scheduler, engine.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(value)
        else:
            scheduler.step()
    for key in list(s):
        s[key] = 0.0
    if cfg.epochs is not None and state.epoch >= cfg.epochs:
        state.finished = True
    cb.end_epoch(row, state, improved)
