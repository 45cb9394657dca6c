"""Snapshots of a folder's files, for tests that check nothing was changed or lost."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree_hash(folder: Path) -> str:
    """One hash over every file's relative path and bytes under folder."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def run_files(run: Path) -> dict[str, bytes]:
    """Every file of a run but its lock (which holds the last writer's pid)."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != ".lock"}
