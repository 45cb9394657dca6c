"""`trainer train` as a library function: config -> run dir -> model/data -> fit -> test."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError, ConfigError, EngineError
from trainer import checkpoint as ckpt_io
from trainer import config as config_mod
from trainer import parallel, resume_check, tensorboard
from trainer import summary as summary_mod
from trainer.guard import EXIT_INTERRUPTED
from trainer.loop import Callbacks, Interrupted, NonFiniteLoss, TrainState, evaluate, fit
from trainer.progress import Progress, final_lines, format_row
from trainer.runs import RunDir, make_meta


class TrainingError(EngineError):
    """Training could not go on (e.g. the loss became non-finite)."""


def train(config_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
          resume: str | Path | None = None, run_dir: str | Path | None = None,
          device: str | None = None, progress: str | None = None,
          quiet: bool = False) -> tuple[int, Path]:
    """Train from a YAML config (or continue a run); return (exit code, run directory).

    quiet: print nothing but errors (not even the result lines that --progress none keeps).
    Under `mpiexec -n N` (N > 1) the N processes train one run data-parallel (trainer.parallel).
    """
    if parallel.launched():
        from trainer.parallel_session import train_ranks

        return train_ranks(config_path, overrides, resume, run_dir, device, progress, quiet)
    cfg = checked_config(config_path, overrides, device, progress)
    run, ckpt = open_run(cfg, resume, run_dir)
    return run_session(Session, cfg, run, ckpt, quiet)


def checked_config(config_path: str | Path, overrides: list[str] | tuple[str, ...],
                   device: str | None, progress: str | None) -> Any:
    """The run's config, loaded and checked: everything that can be refused is refused before a
    run folder exists (or is touched)."""
    flags = config_mod.flag_overrides(device=device, progress=progress)
    cfg = config_mod.load(config_path, list(overrides) + flags)
    from trainer.build import check_buildable, check_device
    from trainer.data_spec import resolve_data

    check_device(cfg.device)
    resolve_data(cfg)  # dataset: idx: its normalisation and zoo model shape go into config.yaml
    check_buildable(cfg)
    tensorboard.enabled(cfg)  # train.tensorboard: true without tensorboardX stops here
    return cfg


def open_run(cfg: Any, resume: str | Path | None,
             run_dir: str | Path | None) -> tuple[RunDir, dict[str, Any] | None]:
    """The run folder (locked) and, to resume, its checked checkpoint `last`."""
    if resume is not None:
        return _open_for_resume(Path(resume), cfg)
    return RunDir.create(cfg.train.out_dir, cfg.name, exact=run_dir), None


def run_session(cls: Callable[..., Session], cfg: Any, run: Any, ckpt: dict[str, Any] | None,
                quiet: bool) -> tuple[int, Path]:
    """Run a cls session (a Session class, or a function making one) on run; the lock is
    released however it ends."""
    session = None
    try:
        session = cls(cfg, run, ckpt, quiet=quiet)
        return session.run(), run.path
    except BaseException:
        # Stopped (Ctrl-C included) before training took over the signals: a new run's folder
        # holds nothing to resume from, so it goes rather than stay behind half made.
        if ckpt is None and not (session and session.started):
            run.discard_unstarted()
        raise
    finally:
        run.release()


def _open_for_resume(path: Path, cfg: Any) -> tuple[RunDir, dict[str, Any]]:
    """Lock the run and check that it can be continued with cfg; nothing in it is written here."""
    run = RunDir.open(path)
    run.lock()  # a second writer of this run exits 2 here, before reading anything
    try:
        return run, _check_resumable(run, cfg)
    except BaseException:
        run.release()
        raise


def _check_resumable(run: RunDir, cfg: Any) -> dict[str, Any]:
    run.refuse_links()
    stored = config_mod.load(run.config_path)
    changes = config_mod.diff(stored, cfg)
    if changes:
        raise ConfigError(f"cannot resume {run.path}: the config differs from its config.yaml in "
                          f"{'; '.join(changes)}. Resume with the run's own config "
                          f"({run.config_path}) or start a new run")
    ckpt = ckpt_io.load_checkpoint(run.path, "last")
    parallel.check_world(ckpt, parallel.placement()[1])  # the data order depends on the count
    if ckpt["state"].get("config_hash") != config_mod.config_hash(cfg):
        raise CheckpointError(f"{ckpt['path']} was written with a different config than "
                              f"{run.config_path}; start a new run")
    return ckpt


def _quiet_float_warnings() -> Any:
    import numpy as np

    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


class Session(Callbacks):
    """One training process on one run directory: writes files and reacts to signals."""

    def __init__(self, cfg: Any, run: RunDir, ckpt: dict[str, Any] | None,
                 quiet: bool = False) -> None:
        self.cfg, self.run_dir, self.ckpt = cfg, run, ckpt
        self.config_hash = config_mod.config_hash(cfg)  # stored in every checkpoint
        self.progress = Progress(cfg.train.progress, log=run.log, quiet=quiet)
        self._stop_signal: str | None = None
        self._steps_here = 0
        self.started = False

    # -- setup ------------------------------------------------------------------------------
    def _build(self) -> None:
        """Model, optimizer, scheduler, loaders and a fresh TrainState; writes nothing."""
        import engine
        from trainer.amp import build_amp
        from trainer.build import (
            build_model,
            build_optimizer,
            build_scheduler,
            check_device,
            check_schedule_length,
        )
        from trainer.data import build_data

        cfg = self.cfg
        check_device(cfg.device)
        engine.manual_seed(cfg.seed)  # the one seed: init and dropout draw from it
        self.model = build_model(cfg)
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.scheduler = build_scheduler(cfg, self.optimizer)
        self.amp = build_amp(cfg)
        self.data = build_data(cfg, self.run_dir.path, model=self.model)
        check_schedule_length(cfg, self.scheduler, len(self.data.train))
        self.state = TrainState()

    def _setup(self) -> None:
        cfg = self.cfg
        self._build()
        ckpt_io.clean_tmp(self.run_dir.checkpoints)
        stored = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train,
                                                                    stop_after_steps=None))
        if self.ckpt is None:
            # tb/ before config.yaml: a Ctrl-C while it opens leaves a folder without a config,
            # which is removed as half made.
            self.board = tensorboard.open_board(cfg, self.run_dir.path, 0)
            self.run_dir.write_config(config_mod.dump(stored))
            self.run_dir.write_meta(make_meta(cfg, self.data.checksums()))
            self.progress.line(f"run directory {self.run_dir.path}")
            self._summary()
            return
        # Every part of the checkpoint is checked and loaded in memory before a file changes.
        self.state = resume_check.apply(self, self.ckpt)
        # A finished run may be extended (more epochs); an early-stopped one stays stopped.
        self.state.finished = self.state.stopped_early
        self.run_dir.truncate_metrics(self.state.step)
        self.run_dir.write_config(config_mod.dump(stored))  # may carry a new train.epochs
        self.board = tensorboard.open_board(cfg, self.run_dir.path, self.state.step)
        self.progress.line(f"resumed {self.run_dir.path} at step {self.state.step} "
                           f"(epoch {self.state.epoch + 1}) from {self.ckpt['path'].name}")
        self._summary()

    def _summary(self) -> None:
        """Print the model summary (unless progress is none); a new run keeps it as summary.txt."""
        summary_mod.report(self.cfg, self.model, self.data, self.run_dir.path, self.progress.mode,
                           write=self.ckpt is None)

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> int:
        """Set up, train, test; return the exit code (0, or 130 when interrupted)."""
        self._setup()
        previous = self._install_signals()
        self.started = True  # from here a stop writes checkpoints/last: the run is resumable
        try:
            with _quiet_float_warnings():  # a non-finite loss is caught and explained below
                fit(self.fit_model(), self.optimizer, self.data.train, self.data.val,
                    self.cfg.train, self.scheduler, self.cfg.scheduler.interval, self.state,
                    tensorboard.Chain(self, self.board), self.amp)
        except Interrupted:
            return self._interrupted()
        except NonFiniteLoss as exc:
            raise TrainingError(self._explain_nonfinite(exc)) from None
        finally:
            self.progress.close()
            self._restore_signals(previous)
        self._finish()
        self.board.close(self.run_dir.read_meta().get("result"))  # the hparams entry
        return 0

    def fit_model(self) -> Any:
        """The module fit trains: the model (a data-parallel session wraps it)."""
        return self.model

    def _interrupted(self) -> int:
        """Say where the stopped run's checkpoint is and how to resume; the exit code."""
        cause = self._stop_cause()
        self.progress.close()
        message = (f"interrupted ({cause}) at step {self.state.step}; checkpoint "
                   f"{self.run_dir.checkpoints / 'last'} written. Resume with:\n"
                   f"  trainer train {self.run_dir.config_path} --resume {self.run_dir.path}")
        self.run_dir.log(message)
        print(message, file=sys.stderr, flush=True)  # shown even with --progress none
        return EXIT_INTERRUPTED

    def _stop_cause(self) -> str:
        """What stopped training: the signal's name, or the stop_after_steps test hook."""
        return self._stop_signal or "stop_after_steps"

    def _finish(self) -> None:
        test = evaluate(self.model, self.data.test)
        row = {"kind": "test", "epoch": self.state.epoch, "step": self.state.step,
               "test_loss": test["loss"], "test_acc": test["acc"]}
        self.run_dir.append_metrics(row)
        rows = self.run_dir.read_metrics()
        epochs = [r for r in rows if r.get("kind") == "epoch"]
        vals = [r["val_acc"] for r in epochs if isinstance(r.get("val_acc"), int | float)]
        meta = self.run_dir.read_meta()
        meta["result"] = {
            "status": "early_stopped" if self.state.stopped_early else "finished",
            "epochs": self.state.epoch, "steps": self.state.step,
            "train_seconds": sum(r.get("epoch_seconds") or 0.0 for r in epochs
                                 if isinstance(r.get("epoch_seconds"), int | float)),
            "best_val_acc": max(vals) if vals else None, "best_epoch": self.state.best_epoch,
            "test_loss": test["loss"], "test_acc": test["acc"], "test_checkpoint": "last",
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.run_dir.write_meta(meta)
        if self.cfg.train.plot:
            from trainer.plots import plot_curves

            plot_curves(self.run_dir)
        for line in final_lines(self.run_dir.path, test):
            self.progress.result(line)

    # -- callbacks from fit -----------------------------------------------------------------
    def start_epoch(self, epoch: int, batches: int, done: int) -> None:
        """Show a bar for the epoch."""
        self.progress.start_epoch(epoch, batches, done)

    def after_step(self, state: TrainState, loss: float, lr: float) -> None:
        """Advance the bar."""
        self._steps_here += 1
        s = state.sums
        acc = s["correct"] / s["count"] if s["count"] else None
        self.progress.step(loss, acc, lr, s["count"] / max(s["seconds"], 1e-9))

    def log_step(self, row: dict[str, Any]) -> None:
        """Record a step row (printed in log mode only: the bar shows the same live)."""
        self.run_dir.append_metrics(row)
        if self.progress.mode == "log":
            self.progress.line(format_row(row))
        else:
            self.run_dir.log(format_row(row))

    def end_epoch(self, row: dict[str, Any], state: TrainState, improved: bool) -> None:
        """Record the epoch, then write last, best and epoch-NNNN."""
        self.progress.close()
        self.run_dir.append_metrics(row)
        self.progress.line(format_row(row))
        last = self.checkpoint(state)
        folder = self.run_dir.checkpoints
        if improved:
            ckpt_io.copy_checkpoint(last, folder, "best")
        if self.cfg.train.keep_last > 0:
            ckpt_io.copy_checkpoint(last, folder, f"epoch-{state.epoch:04d}")
            ckpt_io.prune(folder, self.cfg.train.keep_last)

    def checkpoint(self, state: TrainState) -> Path:
        """Write checkpoints/last from the current model, optimizer, loader and RNG."""
        import engine

        info = {
            "format": 1, "step": state.step, "epoch": state.epoch, "train": state.to_dict(),
            "rng": engine.get_rng_state(), "loader": self.data.train.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.amp.state_dict() if self.amp is not None else None,
            "config_hash": self.config_hash, "model_name": self.cfg.model.name,
        }
        info.update(self.extra_state())
        return ckpt_io.save_checkpoint(self.run_dir.checkpoints, "last", self.model.state_dict(),
                                       self.optimizer.state_dict(), info)

    def extra_state(self) -> dict[str, Any]:
        """More keys for state.json (a data-parallel session's world size and rank states)."""
        return {}

    def stop_requested(self) -> bool:
        """A signal arrived, or the stop_after_steps test hook is due."""
        return self._stop_signal is not None or self._steps_due()

    def _steps_due(self) -> bool:
        """The stop_after_steps test hook is due: this process has trained that many steps."""
        limit = self.cfg.train.stop_after_steps
        return limit is not None and self._steps_here >= limit

    # -- signals and failures ---------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_signal is not None:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, `last` is from before
        self._stop_signal = signal.Signals(signum).name
        self.progress.line(f"{self._stop_signal}: finishing the step, then writing a checkpoint")

    def _explain_nonfinite(self, exc: NonFiniteLoss) -> str:
        from trainer.diagnose import first_nonfinite_op

        images, labels = exc.batch
        where = first_nonfinite_op(self.model, images, labels, exc.rng_state)
        last = ckpt_io.resolve(self.run_dir.path, "last") if any(
            self.run_dir.checkpoints.glob("last*")) else None
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        return (f"{exc} in {self.run_dir.path}: {where}; {kept}. Lower optimizer.lr or set "
                "train.grad_clip")
