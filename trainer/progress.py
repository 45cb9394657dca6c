"""Progress display: a rich bar in a terminal, plain log lines otherwise, or nothing.

Whatever the mode, a run's result lines (final_lines) are printed unless the run is quiet.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def resolve_mode(mode: str) -> str:
    """'auto' -> 'bar' in an interactive terminal, 'log' when piped or under CI."""
    if mode != "auto":
        return mode
    return "bar" if sys.stdout.isatty() and not os.environ.get("CI") else "log"


def format_row(row: dict[str, Any]) -> str:
    """One log line for a metrics row."""
    parts = [f"epoch {row['epoch']}", f"step {row['step']}"]
    for key, fmt in (("train_loss", ".4f"), ("train_acc", ".4f"), ("val_loss", ".4f"),
                     ("val_acc", ".4f"), ("test_loss", ".4f"), ("test_acc", ".4f"), ("lr", ".3g"),
                     ("epoch_seconds", ".1f"), ("samples_per_s", ".0f")):
        if row.get(key) is not None:
            parts.append(f"{key} {row[key]:{fmt}}")
    return " | ".join(parts)


def final_lines(run_path: Any, test: dict[str, Any]) -> list[str]:
    """The lines that end a finished run in every progress mode: test metrics, run folder."""
    return [f"test: loss {test['loss']:.4f} | acc {test['acc']:.4f}", f"done: {run_path}"]


class Progress:
    """Shows training progress; every line also goes to log (e.g. RunDir.log).

    quiet: nothing is printed (mode "none", and no result lines either); errors still are.
    """

    def __init__(self, mode: str, log: Any = None, quiet: bool = False) -> None:
        self.mode = "none" if quiet else resolve_mode(mode)
        self.quiet = quiet
        self._log = log
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0

    def line(self, text: str) -> None:
        """Print a message (above the bar if one is shown) and log it."""
        if self._log is not None:
            self._log(text)
        if self.mode == "none":
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, flush=True)

    def result(self, text: str) -> None:
        """Print and log a result line: shown in every mode (none too) unless quiet."""
        if self.mode != "none" or self.quiet:
            self.line(text)
            return
        if self._log is not None:
            self._log(text)
        print(text, flush=True)

    def start_epoch(self, epoch: int, batches: int, done: int) -> None:
        """Begin a bar (bar mode) for one epoch."""
        if self.mode != "bar":
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.close()
        self._bar = RichProgress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[info]}"), transient=True)
        self._bar.start()
        self._task = self._bar.add_task("train", total=batches, completed=done, epoch=epoch + 1,
                                        info="")

    def step(self, loss: float, acc: float | None, lr: float, rate: float) -> None:
        """Advance the bar by one step (refreshing its text at most 10 times a second)."""
        if self._bar is None:
            return
        now = time.perf_counter()
        info = None
        if now - self._last > 0.1:
            self._last = now
            acc_text = f" acc {acc:.3f}" if acc is not None else ""
            info = f"loss {loss:.4f}{acc_text} lr {lr:.3g} {rate:.0f} samples/s"
        if info is None:
            self._bar.advance(self._task)
        else:
            self._bar.update(self._task, advance=1, info=info)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
