"""`trainer train` under `mpiexec -n N`: N ranks train one run data-parallel; rank 0 writes it.

Rank 0 checks the config and makes (or opens to resume) the run folder while the others wait; a
refusal there stops every rank with rank 0's exit code and one message. Rank 0 then opens the data
(making the synthetic set, downloading) before the others read it, and its parameters, buffers,
optimizer, scheduler and counters, fresh or from the checkpoint, are broadcast to every rank.
A checkpoint stores the world size and each rank's RNG and loader state, so a resumed run continues
exactly, and only with the same number of ranks. A rank that fails makes every rank stop
(MPI_Abort) instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

from trainer import parallel
from trainer.guard import EXIT_INTERRUPTED, exit_code
from trainer.loop import TrainState, evaluate
from trainer.progress import Progress
from trainer.session import Session, TrainingError, checked_config, open_run, run_session


def train_ranks(config_path: str | Path, overrides: list[str] | tuple[str, ...],
                resume: str | Path | None, run_dir: str | Path | None, device: str | None,
                progress: str | None, quiet: bool) -> tuple[int, Path]:
    """session.train for one of the ranks mpiexec started; returns (exit code, run directory)."""
    parallel.start()
    rank = parallel.placement()[0]
    if rank == 0:
        try:
            cfg = checked_config(config_path, overrides, device, progress)
            run, ckpt = open_run(cfg, resume, run_dir)
        except BaseException as exc:
            parallel.share(exit_code(exc))  # the others stop with this code; rank 0 says why
            raise
        parallel.share(str(run.path))
    else:
        answer = parallel.share()
        if isinstance(answer, int):
            raise SystemExit(answer)
        cfg = checked_config(config_path, overrides, device, progress)
        run, ckpt = parallel.RankView(answer, rank), None
    return run_session(RankSession, cfg, run, ckpt, quiet)


class RankSession(Session):
    """A Session on one rank: every rank trains, rank 0 alone writes, prints and logs."""

    def __init__(self, cfg: Any, run: Any, ckpt: dict[str, Any] | None,
                 quiet: bool = False) -> None:
        super().__init__(cfg, run, ckpt, quiet=quiet)
        self.rank, self.world = parallel.placement()
        if self.rank != 0:
            self.progress = Progress("none", quiet=True)
        self._rank_states: list[Any] = []

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
        """Rank 0's model, optimizer, scheduler and counters on every rank; the ranks' saved
        RNG and loader states when resuming (None for a new run)."""
        if self.rank == 0:
            ranks = self.ckpt["state"].get("ranks") if self.ckpt is not None else None
            payload = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                       "train": self.state.to_dict(), "ranks": ranks,
                       "scheduler": self.scheduler.state_dict() if self.scheduler else None}
        else:
            payload = None
        payload = parallel.share(payload)
        if self.rank != 0:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            if self.scheduler is not None and payload["scheduler"] is not None:
                self.scheduler.load_state_dict(payload["scheduler"])
            self.state = TrainState.from_dict(payload["train"])
        return payload["ranks"]

    def _summary(self) -> None:
        if self.rank == 0:
            super()._summary()

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> int:
        """Session.run; an error on this rank ends every rank (the others would wait for it)."""
        import engine.distributed as dist

        try:
            return super().run()
        except BaseException:
            dist.abort_on_exit()
            raise

    def _install_signals(self) -> dict[int, Any]:
        previous = super()._install_signals()
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

    def _finish(self) -> None:
        digests = parallel.gather(parallel.weights_digest(self.model.state_dict()))
        if len(set(digests)) != 1:
            raise TrainingError(
                "the ranks ended with different weights (sha256 " + ", ".join(
                    f"rank {r} {d[:12]}" for r, d in enumerate(digests)) + "); their MPI "
                "all-reduce is not deterministic across ranks")
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
        """Stop when any rank was asked to: all stop after the same step."""
        return parallel.any_rank(super().stop_requested())


def _peer_failed(signum: int, frame: Any) -> None:
    """MPICH's launcher sends SIGUSR1 to the survivors when a rank dies (if it does not kill
    them itself): stop with a message rather than by the signal's default, silent exit."""
    from engine.distributed import DistBackendError

    raise DistBackendError("another rank failed (the MPI launcher reported it with SIGUSR1); "
                           "stopping this one")
