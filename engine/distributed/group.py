"""The default process group: who this process is among the MPI ranks, the timeout that bounds
every wait, and the exit hook that ends every rank when one fails. The one module importing mpi4py.
"""

from __future__ import annotations

import atexit
import enum
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from engine.errors import EngineError

default_pg_timeout = timedelta(minutes=30)  # PyTorch's default
# Variables by which MPI launchers (MPICH/Hydra and Intel MPI, Open MPI, MVAPICH) give each process
# the world size and its rank, read without importing mpi4py.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_SPIN_SECONDS = 0.01  # poll flat out this long (a step's all-reduce), then sleep between polls
_NAP_SECONDS = 0.0002


class DistError(EngineError, RuntimeError):
    """A collective could not complete (torch.distributed.DistError)."""


class DistBackendError(DistError):
    """The MPI backend failed or timed out; the process group is broken."""


class Backend(enum.StrEnum):
    """Process-group backends: MPI only."""

    MPI = "mpi"


class ReduceOp(enum.Enum):
    """How all_reduce combines the ranks' values (torch.distributed.ReduceOp)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


@dataclass
class _Group:
    rank: int
    size: int
    timeout: float
    comm: Any = None  # an mpi4py communicator; None for a group of one process
    mpi: Any = None  # the mpi4py.MPI module
    cuda_aware: bool = False
    broken: str | None = None  # what timed out


class Work:
    """What a collective returns with async_op=True: here it has already completed."""

    def wait(self, timeout: Any = None) -> bool:
        """True: the collective is done."""
        return True

    def is_completed(self) -> bool:
        """True: the collective is done."""
        return True


def _done(async_op: bool) -> Work | None:
    return Work() if async_op else None


_group: _Group | None = None
_abort: list[int | None] = [None]  # the exit code abort_on_exit() asked for
_hooked = [False]


def is_available() -> bool:
    """True: this module works in every install (a group of one needs no MPI)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py can be imported (pip install 'gradwell[mpi]'); it is not imported here."""
    return importlib.util.find_spec("mpi4py") is not None


def launched_world_size() -> int | None:
    """The world size an MPI launcher gave this process, None when none started it."""
    for name in _SIZE_VARS:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: timedelta | float | None = None, world_size: int = -1,
                       rank: int = -1, store: Any = None, group_name: str = "",
                       pg_options: Any = None, device_id: Any = None) -> None:
    """Start the default process group: every process an MPI launcher started (rank, world size
    from MPI), or this process alone without one. backend: "mpi" (None means it too).

    timeout (a timedelta or seconds, default 30 min) bounds every collective's wait.
    """
    global _group
    if backend is not None and str(getattr(backend, "value", backend)).lower() != "mpi":
        raise ValueError(f"backend '{backend}' is not available: engine.distributed runs on MPI "
                         "(backend='mpi')")
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    seconds = (timeout.total_seconds() if isinstance(timeout, timedelta) else
               default_pg_timeout.total_seconds() if timeout is None else float(timeout))
    if not seconds > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    size = launched_world_size()
    if size is None or size == 1:
        group = _Group(rank=0, size=1, timeout=seconds)
    else:
        group = _mpi_group(seconds)
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given not in (-1, None) and int(given) != actual:
            raise ValueError(f"init_process_group: {name}={given} but the MPI launcher started "
                             f"this process as {name} {actual}")
    _group = group
    if not _hooked[0]:
        _hooked[0] = True
        atexit.register(_exit_hook)
        previous = sys.excepthook

        def excepthook(kind: Any, value: Any, tb: Any) -> None:
            if _abort[0] is None:  # an uncaught error: the others would wait for this rank forever
                _abort[0] = 1
            previous(kind, value, tb)

        sys.excepthook = excepthook


def _mpi_group(seconds: float) -> _Group:
    if not is_mpi_available():
        raise DistError("this process was started by an MPI launcher but mpi4py is missing: "
                        "pip install 'gradwell[mpi]'")
    from mpi4py import MPI  # noqa: PLC0415 - lazy on purpose: MPI starts only when asked for

    comm = MPI.COMM_WORLD.Dup()
    return _Group(rank=comm.Get_rank(), size=comm.Get_size(), timeout=seconds, comm=comm,
                  mpi=MPI, cuda_aware=_cuda_aware())


def _cuda_aware() -> bool:
    """Whether the MPI library reads GPU memory itself (MPICH's and Open MPI's extension)."""
    import ctypes  # noqa: PLC0415

    try:
        query = ctypes.CDLL(None).MPIX_Query_cuda_support
    except (AttributeError, OSError):
        return False
    query.restype = ctypes.c_int
    return bool(query())


def _exit_hook() -> None:
    group = _group
    if group is not None and group.comm is not None and (group.broken or _abort[0] is not None):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        # The launcher forwards output asynchronously and stops when it tears the job down:
        # give it a moment to pass on this rank's last lines (the error) first.
        time.sleep(0.2)
        group.mpi.COMM_WORLD.Abort(1 if _abort[0] is None else _abort[0])


def abort_on_exit(errorcode: int = 1) -> None:
    """Make this process end every rank (MPI_Abort) when it exits, the launcher exiting with
    errorcode: for a rank that stops on an error it handled itself, which the others, waiting in
    a collective, would never learn of."""
    _abort[0] = int(errorcode)


def is_initialized() -> bool:
    """Whether init_process_group has run (and destroy_process_group has not)."""
    return _group is not None


def _require(group: Any = None) -> _Group:
    if _group is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    if _group.broken:
        raise DistBackendError(f"the process group is broken ({_group.broken} timed out); "
                               "exit and start the job again")
    return _group


def get_rank(group: Any = None) -> int:
    """This process's rank in the group (0 .. world size - 1)."""
    return _require(group).rank


def get_world_size(group: Any = None) -> int:
    """How many processes the group has."""
    return _require(group).size


def get_backend(group: Any = None) -> str:
    """The group's backend name: "mpi"."""
    _require(group)
    return Backend.MPI.value


def destroy_process_group(group: Any = None) -> None:
    """Forget the default group (MPI itself is finalized when the process exits)."""
    global _group
    if _group is not None and _group.comm is not None and not _group.broken:
        _group.comm.Free()
    _group = None


def _wait(request: Any, what: str, group: _Group) -> None:
    """Poll request until done; past the group's timeout, break the group and raise."""
    if request.Test():
        return
    start = time.monotonic()
    while not request.Test():
        waited = time.monotonic() - start
        if waited > group.timeout:
            group.broken = what
            raise DistBackendError(
                f"{what} timed out after {group.timeout:.0f} s on rank {group.rank} of "
                f"{group.size}: another rank died, hangs or is far behind; the process group is "
                "broken")
        if waited > _SPIN_SECONDS:
            time.sleep(_NAP_SECONDS)
        else:
            os.sched_yield()  # a rank it waits for may need this core (more ranks than cores)


def _check_rank(rank: int, g: _Group, name: str) -> None:
    if not 0 <= int(rank) < g.size:
        raise ValueError(f"{name}={rank} is not a rank of this group (0..{g.size - 1})")
