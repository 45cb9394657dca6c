"""The one "did you mean ...?" hint of every error about an unknown name (stdlib only)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, choices: Iterable[object], prefix: str = "") -> str:
    """"did you mean '<prefix><choice>'?" for the choice closest to word; "" if none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f"did you mean '{prefix}{close[0]}'?" if close else ""
