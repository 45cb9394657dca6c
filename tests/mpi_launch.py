"""Launching `mpiexec -n 2` from tests: the launcher, its environment, and the skip mark."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

import engine.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
# What an MPI launcher sets; cleared so a test run under mpiexec still starts its own ranks.
LAUNCH_VARS = ("PMI_SIZE", "PMI_RANK", "PMI_FD", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
               "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK")


def mpiexec() -> str | None:
    """The environment's mpiexec (the mpi extra installs one next to python), else None."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.is_file() else shutil.which("mpiexec")


def mpi_env(**extra: str) -> dict[str, str]:
    """Environment for ranks of this checkout, one BLAS thread each (2 ranks share 2 cores)."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # several starts: compile the sources once
    return env


needs_mpi = pytest.mark.skipif(not dist.is_mpi_available() or mpiexec() is None,
                               reason="needs mpi4py and mpiexec (pip install '.[mpi]')")
