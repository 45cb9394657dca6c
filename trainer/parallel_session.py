"""`trainer train` under `mpiexec -n N`: N ranks train one run data-parallel; rank 0 writes it.

Rank 0 checks the config and makes (or opens to resume) the run folder while the others wait, then
the others check theirs; a refusal on any rank stops every rank together with its exit code and
one message, from rank 0, with the run folder removed. Rank 0 then opens the data (making the
synthetic set, downloading) before the others read it, and its parameters, buffers, optimizer,
scheduler, GradScaler and counters, fresh or from the checkpoint, are broadcast to every rank.
A checkpoint stores the world size and each rank's RNG and loader state, so a resumed run continues
exactly, and only with the same number of ranks. From the moment MPI starts, any other error on a
rank ends every rank (MPI_Abort, with that rank's exit code) instead of leaving the others waiting
in a collective. Ctrl-C during setup stops rank 0 as one process stops (exit 130, no half-made
folder), and rank 0 ends the job; a rank > 0 notes it and stops with the others after the first
step, so a signal to that rank alone still stops the run cleanly.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, EngineError
from trainer import parallel
from trainer.guard import EXIT_INTERRUPTED, EXIT_USAGE, exit_code
from trainer.loop import TrainState, evaluate
from trainer.progress import Progress
from trainer.session import Session, TrainingError, checked_config, open_run, run_session

_GRACE_SECONDS = 2.0  # how long a failing rank > 0 leaves rank 0 to end the job first
_RANKS = 1 << 20  # more ranks than any job has: stop_requested packs (signal, rank) as one float


class _AllStop(Exception):  # noqa: N818 - control flow between the ranks, not an error itself
    """Every rank stops with code, knowing it (no MPI_Abort); error: what rank 0 reports."""

    def __init__(self, code: int, error: BaseException | None = None) -> None:
        super().__init__(code)
        self.code, self.error = code, error


def train_ranks(config_path: str | Path, overrides: list[str] | tuple[str, ...],
                resume: str | Path | None, run_dir: str | Path | None, device: str | None,
                progress: str | None, quiet: bool) -> tuple[int, Path]:
    """session.train for one of the ranks mpiexec started; returns (exit code, run directory)."""
    import engine.distributed as dist

    parallel.start()  # a refused $TRAINER_DIST_TIMEOUT stops every rank here, rank 0 says why
    rank = parallel.placement()[0]
    held = _HeldSignal() if rank != 0 else None
    try:
        cfg, run, ckpt = _open_on_every_rank(rank, config_path, overrides, resume, run_dir,
                                             device, progress)
        return run_session(functools.partial(RankSession, held=held), cfg, run, ckpt, quiet)
    except _AllStop as stop:
        if stop.error is not None:
            raise stop.error from None
        raise SystemExit(stop.code) from None
    except BaseException as exc:
        # The others would wait for this rank in a collective until the timeout: end them all.
        dist.abort_on_exit(exit_code(exc))
        if rank != 0:
            # Rank 0 may be ending the job itself (Ctrl-C: removing the new run's folder, whose
            # loss may be what failed here): let it, and give the exit code, before this one.
            time.sleep(_GRACE_SECONDS)
        raise
    finally:
        if held is not None:
            held.restore()


def _open_on_every_rank(rank: int, config_path: str | Path,
                        overrides: list[str] | tuple[str, ...], resume: str | Path | None,
                        run_dir: str | Path | None, device: str | None,
                        progress: str | None) -> tuple[Any, Any, dict[str, Any] | None]:
    """(config, run folder, checkpoint) on every rank, or _AllStop on every rank when one of them
    refuses its config (or rank 0 the run folder)."""
    if rank != 0:
        return _open_on_another_rank(rank, config_path, overrides, device, progress)
    try:
        cfg = checked_config(config_path, overrides, device, progress)
        run, ckpt = open_run(cfg, resume, run_dir)
    except Exception as exc:
        parallel.share(exit_code(exc))  # the others stop with this code; rank 0 says why
        raise _AllStop(exit_code(exc), exc) from exc
    try:
        parallel.share(str(run.path))
        refusals = _refusals(None)
        if refusals:
            r, (code, text) = refusals[0]
            error = ConfigError if code == EXIT_USAGE else TrainingError
            raise _AllStop(code, error(f"rank {r} of {parallel.placement()[1]} could not start: "
                                       f"{text}"))
    except BaseException:
        # Ctrl-C included: a new run's folder holds nothing yet and goes, as with one process.
        if ckpt is None:
            run.discard_unstarted()
        run.release()
        raise
    return cfg, run, ckpt


def _open_on_another_rank(rank: int, config_path: str | Path,
                          overrides: list[str] | tuple[str, ...], device: str | None,
                          progress: str | None) -> tuple[Any, Any, None]:
    answer = parallel.share()
    if isinstance(answer, int):  # rank 0 refused its config or the run folder
        raise _AllStop(answer)
    try:  # e.g. the config file missing on this rank's machine
        cfg, mine = checked_config(config_path, overrides, device, progress), None
    except Exception as exc:
        cfg, mine = None, [exit_code(exc), _said(exc)]
    refusals = _refusals(mine)
    if refusals:
        raise _AllStop(refusals[0][1][0])  # rank 0 says why
    return cfg, parallel.RankView(answer, rank), None


def _refusals(mine: list[Any] | None) -> list[tuple[int, list[Any]]]:
    """(rank, [exit code, message]) of each rank that refused its config (all ranks call it)."""
    return [(r, why) for r, why in enumerate(parallel.gather(mine)) if why]


def _said(exc: Exception) -> str:
    """What the command line would print for exc after "error: "."""
    if isinstance(exc, EngineError | OSError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


class _HeldSignal:
    """SIGINT on a rank > 0 before training, noted rather than raised: the rank stops with the
    others after the first step. Raised at once, it would make this rank end the job (MPI_Abort)
    while rank 0, which Ctrl-C on mpiexec reaches too, still removes its half-made run folder.
    A second one raises."""

    def __init__(self) -> None:
        self.name: str | None = None
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self)

    def __call__(self, signum: int, frame: Any) -> None:
        if self.name is not None:
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name

    def restore(self) -> None:
        """Give SIGINT back to the handler it had."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class RankSession(Session):
    """A Session on one rank: every rank trains, rank 0 alone writes, prints and logs."""

    def __init__(self, cfg: Any, run: Any, ckpt: dict[str, Any] | None,
                 quiet: bool = False, held: _HeldSignal | None = None) -> None:
        super().__init__(cfg, run, ckpt, quiet=quiet)
        self.rank, self.world = parallel.placement()
        if self.rank != 0:
            self.progress = Progress("none", quiet=True)
        self._rank_states: list[Any] = []
        self._held = held  # a rank > 0's SIGINT during setup
        self._peer_signal: str | None = None  # a signal that reached another rank

    # -- setup ------------------------------------------------------------------------------
    def _setup(self) -> None:
        import engine
        import engine.distributed as dist
        from engine.nn.parallel import DistributedDataParallel

        if self.rank == 0:
            super()._setup()  # builds, writes the run's files, applies the checkpoint
        dist.barrier()  # rank 0 has made (or downloaded) the data files: the others read them
        if self.rank != 0:
            self._check_data_readable()
            self._build()
            from trainer.tensorboard import NoBoard

            self.board = NoBoard()
        ranks = self._sync_from_rank0()
        if ranks is not None:  # resumed: each rank continues its own draws and loader
            engine.set_rng_state(ranks[self.rank]["rng"])
            self.data.train.load_state_dict(ranks[self.rank]["loader"])
        elif self.rank != 0:  # a new run: rank 0 keeps the seed's stream, the others their own
            engine.manual_seed(parallel.rank_seed(self.cfg.seed, self.rank))
        self.ddp = DistributedDataParallel(self.model)
        where = parallel.gather(f"pid {os.getpid()} on {socket.gethostname()}")
        ranks_text = ", ".join(f"rank {r} {w}" for r, w in enumerate(where))
        batch = self.cfg.data.batch_size
        self.progress.line(f"data-parallel on {self.world} processes ({ranks_text}); "
                           f"data.batch_size {batch} per rank, {batch * self.world} a step")

    def _check_data_readable(self) -> None:
        """The synthetic set lives in rank 0's run folder: refuse to make a second copy."""
        from engine.errors import DataError
        from trainer.data import data_root

        root = data_root(self.cfg, self.run_dir.path) if self.cfg.data.dataset == "synthetic" \
            else None
        if root is not None and not (root / "t10k-labels-idx1-ubyte").is_file():
            raise DataError(f"rank {self.rank} cannot read the synthetic data rank 0 wrote in "
                            f"{root}: on several machines, put train.out_dir on a file system "
                            "they share")

    def _sync_from_rank0(self) -> list[Any] | None:
        """Rank 0's optimizer, scheduler, GradScaler and counters on every rank; the ranks' saved
        RNG and loader states when resuming (None for a new run). The model's parameters and
        buffers come from rank 0 when DistributedDataParallel wraps it, right after."""
        if self.rank == 0:
            ranks = self.ckpt["state"].get("ranks") if self.ckpt is not None else None
            payload = {"optimizer": self.optimizer.state_dict(),
                       "train": self.state.to_dict(), "ranks": ranks,
                       "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                       # the loss scale: the ranks' scaled gradients are averaged together
                       "scaler": self.amp.state_dict() if self.amp is not None else None}
        else:
            payload = None
        payload = parallel.share(payload)
        if self.rank != 0:
            self.optimizer.load_state_dict(payload["optimizer"])
            if self.scheduler is not None and payload["scheduler"] is not None:
                self.scheduler.load_state_dict(payload["scheduler"])
            if self.amp is not None and payload["scaler"] is not None:
                self.amp.scaler.load_state_dict(payload["scaler"])
            self.state = TrainState.from_dict(payload["train"])
        return payload["ranks"]

    def _summary(self) -> None:
        if self.rank == 0:
            super()._summary()

    # -- the run ----------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        previous = super()._install_signals()
        if self._held is not None and self._held.name and self._stop_signal is None:
            self._stop_signal = self._held.name  # Ctrl-C during setup: stop after this step
        if previous and hasattr(signal, "SIGUSR1"):  # in the main thread, on POSIX
            previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, _peer_failed)
        return previous

    def fit_model(self) -> Any:
        """The DistributedDataParallel wrapper: its backward averages the gradients."""
        return self.ddp

    def _interrupted(self) -> int:
        if self.rank == 0:
            return super()._interrupted()
        return EXIT_INTERRUPTED

    def _stop_cause(self) -> str:
        return self._stop_signal or self._peer_signal or super()._stop_cause()

    def _finish(self) -> None:
        digests = parallel.gather(parallel.weights_digest(self.model.state_dict()))
        if len(set(digests)) != 1:  # every rank sees it: they stop together, rank 0 says it
            error = TrainingError(
                "the ranks ended with different weights (sha256 " + ", ".join(
                    f"rank {r} {d[:12]}" for r, d in enumerate(digests)) + "): they diverged "
                "during training. Check that every rank runs the same code, config and library "
                "versions, and that every part of the training state starts from rank 0's")
            raise _AllStop(1, error if self.rank == 0 else None)
        if self.rank == 0:
            self.run_dir.log(f"weights identical on all {self.world} ranks: sha256 {digests[0]}")
            super()._finish()  # scores the test set's shard with the others, writes the results
        else:
            evaluate(self.model, self.data.test)  # this rank's shard of the test set

    # -- callbacks from fit -----------------------------------------------------------------
    def log_step(self, row: dict[str, Any]) -> None:
        """Rank 0 records the row (its sums are over all ranks)."""
        if self.rank == 0:
            super().log_step(row)

    def end_epoch(self, row: dict[str, Any], state: TrainState, improved: bool) -> None:
        """Rank 0 records the epoch and writes the checkpoints; every rank gives its state."""
        if self.rank == 0:
            super().end_epoch(row, state, improved)
        else:
            self.checkpoint(state)

    def checkpoint(self, state: TrainState) -> Path | None:
        """Gather every rank's RNG and loader state; rank 0 writes `last` with them."""
        import engine

        self._rank_states = parallel.gather({"rng": engine.get_rng_state(),
                                             "loader": self.data.train.state_dict()})
        return super().checkpoint(state) if self.rank == 0 else None

    def extra_state(self) -> dict[str, Any]:
        """The world size and each rank's state, for an exact resume on as many ranks."""
        return {"world_size": self.world, "ranks": self._rank_states}

    def stop_requested(self) -> bool:
        """Stop when any rank was asked to: all stop after the same step, knowing why."""
        mine = 0.0
        if self._stop_signal is not None:  # the signal and this rank, in one number
            mine = float(signal.Signals[self._stop_signal] * _RANKS + self.rank + 1)
        signalled, due = parallel.max_over_ranks(mine, float(self._steps_due()))
        if signalled and self._stop_signal is None:
            signum, rank = divmod(int(signalled) - 1, _RANKS)
            self._peer_signal = f"{signal.Signals(signum).name} to rank {rank}"
        return bool(signalled or due)


def _peer_failed(signum: int, frame: Any) -> None:
    """MPICH's launcher sends SIGUSR1 to the survivors when a rank dies (if it does not kill
    them itself): stop with a message rather than by the signal's default, silent exit."""
    from engine.distributed import DistBackendError

    raise DistBackendError("another rank failed (the MPI launcher reported it with SIGUSR1); "
                           "stopping this one")
