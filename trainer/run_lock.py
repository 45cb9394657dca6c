"""One writer per run folder: an flock on <run>/.lock, held for the whole training process.

flock is released by the kernel when its holder dies, so a lock left by a killed run never blocks
the next one; the file only carries the holder's pid for the message.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from engine.errors import ConfigError

LOCK_FILE = ".lock"


class RunInUseError(ConfigError):
    """Another live process is writing the run folder (exit 2: the request is refused)."""


def _open(path: Path, create: bool) -> int:
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if create and exc.errno == errno.ELOOP:  # a link planted as .lock
            raise ConfigError(f"{path} is a symbolic link; run folders are never written "
                              "through links, remove it") from None
        raise


def _pid_of(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def _refusal(run: Path, pid: str) -> RunInUseError:
    return RunInUseError(f"{run} is in use by another trainer process (pid {pid}); wait for it "
                         "to finish or stop it, or pass another --run-dir")


def acquire(run: Path) -> int:
    """Lock run for this process and return the descriptor; RunInUseError if another holds it."""
    fd = _open(run / LOCK_FILE, create=True)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _pid_of(fd)
        os.close(fd)
        raise _refusal(run, pid) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release(fd: int | None) -> None:
    """Drop a lock taken by acquire (closing the descriptor releases the flock)."""
    if fd is not None:
        os.close(fd)


def check_free(run: Path) -> None:
    """RunInUseError if a live process holds run's lock (nothing is created or changed)."""
    try:
        fd = _open(run / LOCK_FILE, create=False)
    except OSError:
        return  # no lock file (or not a readable one): nobody is training there
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _refusal(run, _pid_of(fd)) from None
    finally:
        os.close(fd)
