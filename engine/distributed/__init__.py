"""engine.distributed: torch.distributed's process group and collectives, on MPI (mpi4py).

Under an MPI launcher (``mpiexec -n N python script.py``) init_process_group(backend="mpi") joins
the N processes; rank and world size come from MPI. Without a launcher (or with one process) the
group is this process alone, every collective returns at once and mpi4py is never imported.

Each MPI collective is posted non-blocking and polled until the group's timeout; past it
DistBackendError is raised and the group is broken. A process that exits with a broken group, from
an uncaught exception, or after abort_on_exit(), calls MPI_Abort so the launcher ends every rank
(MPI_Finalize would wait for the others forever). CuPy arrays go to MPI as device buffers when the
library is CUDA-aware, else through a host copy.
"""

from engine.distributed.collectives import all_gather, all_reduce, barrier, broadcast
from engine.distributed.group import (
    Backend,
    DistBackendError,
    DistError,
    ReduceOp,
    Work,
    abort_on_exit,
    default_pg_timeout,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
    launched_world_size,
)
from engine.distributed.objects import all_gather_object, broadcast_object_list

__all__ = ["Backend", "DistBackendError", "DistError", "ReduceOp", "Work", "abort_on_exit",
           "all_gather", "all_gather_object", "all_reduce", "barrier", "broadcast",
           "broadcast_object_list", "default_pg_timeout", "destroy_process_group", "get_backend",
           "get_rank", "get_world_size", "init_process_group", "is_available", "is_initialized",
           "is_mpi_available", "launched_world_size"]
