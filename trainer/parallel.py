"""Data-parallel training under MPI: which rank this process is, and the trainer's collectives.

`mpiexec -n N trainer train ...` (N > 1) starts engine.distributed's process group. Rank r trains
on its DistributedSampler share of each epoch's order, data.batch_size images a step (so a step
takes N x data.batch_size), DistributedDataParallel averages the gradients, and every sum the loop
reports (loss, correct, count; validation and test over disjoint shards) is taken over all ranks.
Without an MPI launcher, or with one process, every helper here returns its input and MPI is never
started, so a one-process run is unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CheckpointError, ConfigError

TIMEOUT_ENV = "TRAINER_DIST_TIMEOUT"  # seconds a rank waits for the others before giving up
DEFAULT_TIMEOUT = 300.0


def launched() -> bool:
    """Whether an MPI launcher started this process as one of several ranks."""
    from engine.distributed import launched_world_size

    return (launched_world_size() or 1) > 1


def timeout() -> float:
    """The collectives' timeout: $TRAINER_DIST_TIMEOUT seconds, else DEFAULT_TIMEOUT."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"${TIMEOUT_ENV}={raw!r}: expected a positive number of seconds")
    return value


def start() -> None:
    """Join the ranks the launcher started (once per process). A refused $TRAINER_DIST_TIMEOUT
    stops every rank together: ConfigError on rank 0, a silent exit 2 on the others."""
    import engine.distributed as dist

    if dist.is_initialized():
        return
    try:
        seconds, refused = timeout(), ""
    except ConfigError as exc:
        seconds, refused = DEFAULT_TIMEOUT, str(exc)
    # MPI starts even so: a rank leaving on its own would leave the others waiting in MPI's
    # start-up, and the ranks' environments may differ (one machine's setting).
    dist.init_process_group("mpi", timeout=seconds)
    refusals = [(r, why) for r, why in enumerate(gather(refused)) if why]
    if refusals:
        if placement()[0] != 0:
            from trainer.guard import EXIT_USAGE

            raise SystemExit(EXIT_USAGE)  # rank 0 says why
        r, why = refusals[0]
        raise ConfigError(why if r == 0 else f"rank {r}: {why}")


def placement() -> tuple[int, int]:
    """(rank, world size); (0, 1) unless a process group is running."""
    import engine.distributed as dist

    if not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def active() -> bool:
    """Whether several ranks train together."""
    return placement()[1] > 1


# ----- sums and agreement ------------------------------------------------------------------
def sum_over_ranks(*values: float) -> tuple[float, ...]:
    """Each value summed over the ranks (float64, exact for counts); the values for one rank."""
    if not active():
        return values
    import engine.distributed as dist

    total = np.array(values, dtype=np.float64)
    dist.all_reduce(total)
    return tuple(total.tolist())


def sum_array_over_ranks(array: np.ndarray) -> None:
    """array (a confusion matrix, say) summed over the ranks, in place."""
    if active():
        import engine.distributed as dist

        dist.all_reduce(array)


def step_totals(loss: float, correct: int, n: int) -> tuple[float, int, int]:
    """One step's mean loss, correct predictions and images over all ranks."""
    if not active():
        return loss, correct, n
    loss_sum, correct_sum, count = sum_over_ranks(loss * n, correct, n)
    return loss_sum / count, int(correct_sum), int(count)


def max_over_ranks(*values: float) -> tuple[float, ...]:
    """Each value's largest over the ranks (all ranks must call it together)."""
    if not active():
        return values
    import engine.distributed as dist

    most = np.array(values, dtype=np.float64)
    dist.all_reduce(most, dist.ReduceOp.MAX)
    return tuple(most.tolist())


def gather(obj: Any) -> list[Any]:
    """Every rank's obj, by rank (on every rank)."""
    import engine.distributed as dist

    world = placement()[1]
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def share(obj: Any = None) -> Any:
    """Rank 0's obj, on every rank (the others pass anything)."""
    if not active():
        return obj
    import engine.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# ----- data --------------------------------------------------------------------------------
def rank_seed(seed: int, rank: int) -> int:
    """A seed for rank's own draws (augmentation, dropout), apart from the other ranks'."""
    return int(np.random.SeedSequence((int(seed) % 2**64, 0x52414E4B, rank))
               .generate_state(1, np.uint64)[0] >> 1)


def shard(dataset: Any, shuffle: bool, seed: int) -> tuple[Any, dict[str, Any]]:
    """(dataset, DataLoader options) for this rank's share.

    Training (shuffle): a DistributedSampler over the common (seed, epoch) order, so rank r takes
    every N-th index of the permutation one process would use, and the rank's own seed for
    augmentation. Evaluation: every N-th item, each exactly once (shards may differ by one).
    """
    rank, world = placement()
    if world == 1:
        return dataset, {"shuffle": shuffle, "seed": seed}
    from datasets import DistributedSampler, Subset

    if shuffle:
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                     seed=seed)
        return dataset, {"sampler": sampler, "seed": rank_seed(seed, rank)}
    return Subset(dataset, range(rank, len(dataset), world)), {"shuffle": False, "seed": seed}


# ----- checkpoints -------------------------------------------------------------------------
def check_world(ckpt: dict[str, Any], world: int) -> None:
    """Refuse a checkpoint written by a different number of ranks, or whose rank states do not
    fit this one (CheckpointError, one line)."""
    state, where = ckpt["state"], Path(ckpt["path"]) / "state.json"
    saved = state.get("world_size", 1)
    if not isinstance(saved, int) or isinstance(saved, bool) or saved < 1:
        raise CheckpointError(f"{where} is damaged: 'world_size' must be a positive integer, got "
                              f"{saved!r}")
    if saved != world:
        how = "without mpiexec" if saved == 1 else f"with mpiexec -n {saved}"
        raise CheckpointError(f"{ckpt['path']} was written by {saved} process(es), this run has "
                              f"{world}: resume it {how} (each rank's data shard depends on the "
                              "count)")
    if world == 1:
        return
    ranks, loader = state.get("ranks"), state.get("loader")
    if not isinstance(ranks, list) or len(ranks) != world or not isinstance(loader, dict):
        raise CheckpointError(f"{where} is damaged: 'ranks' must list the state of each of the "
                              f"{world} ranks")
    from trainer.resume_check import check_rank_state

    for r, entry in enumerate(ranks):
        check_rank_state(entry, loader, f"{where} is damaged", f"ranks[{r}]")


def weights_digest(state_dict: dict[str, Any]) -> str:
    """SHA-256 over a state dict's names, dtypes, shapes and bytes (ranks compare theirs)."""
    from engine import backend
    from engine.serialization import _digest  # the digest checkpoint files carry

    return _digest({}, {name: backend.to_numpy(t._data) for name, t in state_dict.items()})


class RankView:
    """The run folder as a rank other than 0 sees it: paths and reads only.

    Only rank 0 writes the run directory; any writing method called here raises, so a code path
    that would write from another rank fails loudly instead of racing rank 0's files.
    """

    READS = frozenset({"checkpoints", "config_path", "read_meta", "read_metrics"})

    def __init__(self, path: str | Path, rank: int) -> None:
        from trainer.runs import RunDir

        self.path, self.rank = Path(path), rank
        self._run = RunDir(self.path)

    def release(self) -> None:
        """Nothing to release: rank 0 holds the run's lock."""

    def discard_unstarted(self) -> None:
        """Nothing to remove: the folder is rank 0's."""

    def __getattr__(self, name: str) -> Any:
        if name in RankView.READS:
            return getattr(self._run, name)
        if name.startswith("_") or not hasattr(type(self._run), name):
            raise AttributeError(name)

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError(f"rank {self.rank} tried to write the run directory ({name}); "
                               "only rank 0 writes it")

        return refuse
