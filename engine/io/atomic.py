"""Atomic file writes: a temp file beside the target, renamed over it only when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = False) -> Iterator[str]:
    """Yield a temp file name beside path; on a clean exit it replaces path, else it is removed.

    Readers never see half a file, and a crash leaves the old file (if any) intact. With fsync
    the bytes reach the disk before the rename, and the rename itself before this returns.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        yield tmp
        if fsync:  # the bytes reach the disk before the name changes
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are meant to be shared
        os.replace(tmp, target)
        if fsync:
            fsync_dir(target.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Sync a folder, so that names just created or renamed in it survive a crash."""
    try:  # Windows cannot open a directory
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the renames are still atomic
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", fsync: bool = False,
                 encoding: str | None = None) -> Iterator[IO]:
    """Open a file for writing that replaces path atomically when the block ends cleanly."""
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f
