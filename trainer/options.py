"""Choice types shared by the CLI's commands (kept apart so no command module imports another)."""

from __future__ import annotations

from enum import StrEnum


class Which(StrEnum):
    """Which checkpoint of a run."""

    last = "last"
    best = "best"
