"""Choice types of the CLI's options (plain enums: importing them loads nothing heavy)."""

from __future__ import annotations

from enum import StrEnum


class Which(StrEnum):
    """Which checkpoint of a run."""

    last = "last"
    best = "best"


class ProgressMode(StrEnum):
    """How training shows its progress."""

    auto = "auto"
    bar = "bar"
    log = "log"
    none = "none"


class Device(StrEnum):
    """Where a run computes."""

    cpu = "cpu"
    cuda = "cuda"


class Split(StrEnum):
    """Which split eval scores."""

    test = "test"
    val = "val"


class Format(StrEnum):
    """The file format export writes."""

    script = "script"
    onnx = "onnx"
