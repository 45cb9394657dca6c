"""Which run eval and export read when none is named: `latest` (the default) or `best`.

A run counts once it finished (meta.json's result.status is finished or early_stopped). The
folders looked at are the run folders in the runs folder and the members of its sweep folders.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from trainer.run_list import is_number, read_rows, read_run_config
from trainer.runs import RunDir

NAMES = ("latest", "best")
FINISHED = ("finished", "early_stopped")
SWEEP_FILE = "sweep.json"  # marks a sweep folder (trainer.sweep), whose members are runs too


def split_target(target: str | None, overrides: list[str]) -> tuple[str | None, list[str]]:
    """`trainer eval data.root=x`: a KEY=VALUE in the target's place is an override, not a run."""
    if target is not None and "=" in target and not Path(target).exists():
        return None, [target, *overrides]
    return target, overrides


def pick_run(target: str | None, runs_dir: str | Path = "runs") -> tuple[Path, str | None]:
    """(path, why) for a target: a path is itself (why None); None or `latest` is the newest
    finished run under runs_dir, `best` the one with the best monitored metric."""
    if target is not None and (target not in NAMES or Path(target).exists()):
        return Path(target), None  # an existing folder called latest or best is that folder
    runs = finished_runs(runs_dir)
    if not runs:
        raise CheckpointError(f"no finished runs in {runs_dir}; train one first: trainer train "
                              "configs/smoke.yaml")
    if target != "best":
        return runs[0]["path"], "newest finished"
    monitor, mode = runs[0]["monitor"], runs[0]["mode"]  # the newest run's choice decides
    scored = [(r, best_value(r["rows"], monitor, mode)) for r in runs]
    scored = [(r, v) for r, v in scored if v is not None]
    if not scored:
        raise CheckpointError(f"no finished run in {runs_dir} logged {monitor}; name the run "
                              "directory instead")
    pick = max if mode == "max" else min
    # runs is newest first and max/min keep the first of equals: a tie goes to the newer run
    run, value = pick(scored, key=lambda rv: rv[1])
    return run["path"], f"best {monitor} {value:.4f} of {len(runs)} finished"


def best_value(rows: list[dict[str, Any]], monitor: str, mode: str) -> float | None:
    """The best value of monitor over a run's epoch rows (max or min), None if never logged."""
    values = [r[monitor] for r in rows if r.get("kind") == "epoch" and is_number(r.get(monitor))
              and math.isfinite(r[monitor])]  # a diverged run's NaN is never the best
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def finished_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Finished runs under runs_dir, newest (last finished) first, with monitor, mode and rows."""
    from trainer.loop import monitor_mode

    out = []
    for path in run_folders(Path(runs_dir)):
        result = RunDir(path).read_meta().get("result")
        if not isinstance(result, dict) or result.get("status") not in FINISHED:
            continue
        train = read_run_config(path / "config.yaml", []).get("train")
        train = train if isinstance(train, dict) else {}
        monitor = train.get("monitor") if isinstance(train.get("monitor"), str) else "val_acc"
        mode = train.get("mode") if train.get("mode") in ("max", "min") else "auto"
        try:
            written = os.stat(path / "meta.json").st_mtime_ns  # orders runs of the same second
        except OSError:
            continue
        out.append({"path": path, "monitor": monitor, "mode": monitor_mode(monitor, mode),
                    "rows": read_rows(path / "metrics.jsonl")[0],
                    "order": (str(result.get("finished", "")), written, path.name)})
    return sorted(out, key=lambda r: r["order"], reverse=True)


def run_folders(parent: Path) -> list[Path]:
    """Run folders (with a config.yaml) in parent and in the sweep folders in parent."""
    if not parent.is_dir():
        return []
    out = []
    for path in sorted(parent.iterdir()):
        try:
            if (path / "config.yaml").is_file():
                out.append(path)
            elif (path / SWEEP_FILE).is_file():
                out += [p for p in sorted(path.iterdir()) if (p / "config.yaml").is_file()]
        except OSError:
            continue
    return out


def resolve_run(name: str, runs_dir: str | Path) -> tuple[Path, str | None]:
    """A run for `trainer runs --compare`: a path, a folder name under runs_dir, latest or best."""
    if not Path(name).exists() and (Path(runs_dir) / name).exists():
        return Path(runs_dir) / name, None
    path, why = pick_run(name, runs_dir)
    return RunDir.open(path).path, why
