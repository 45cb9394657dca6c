"""`trainer train ... --multirun`: the grid of comma-separated override values, one run each.

A sweep writes runs/sweep-<name>-<time>/ holding one run folder per member and sweep.json
(members, their overrides and results), rewritten after each member so a killed sweep still
says what ran. A member that fails is recorded and the next one starts.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, EngineError
from trainer import config as config_mod
from trainer.guard import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME
from trainer.run_pick import SWEEP_FILE
from trainer.runs import write_atomic

_OPEN, _CLOSE = "[{(", "]})"


def split_values(value: str, item: str = "") -> list[str]:
    """A sweep value's choices: split at commas outside brackets and quotes.

    '1e-3,3e-4' -> ['1e-3', '3e-4']; '[64],[256]' -> ['[64]', '[256]']; '[64,128]' -> one.
    """
    parts: list[str] = []
    depth, quote, start, i = 0, "", 0, 0
    fresh = True  # at the start of a scalar, where YAML reads a quote as opening a string
    while i < len(value):
        ch = value[i]
        if quote:
            if ch == "\\" and quote == '"' or value.startswith("''", i) and quote == "'":
                i += 1  # \x inside "..." or '' inside '...': never the closing quote
            elif ch == quote:
                quote = ""
        elif ch in "'\"" and fresh:
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                break
        elif ch == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
        fresh = not quote and (ch in ",:[{(" or (fresh and ch == " "))
        i += 1
    if quote or depth:
        raise ConfigError(f"override '{item or value}': unbalanced "
                          f"{'quote' if quote else 'brackets'}; a sweep separates values with "
                          "commas outside brackets, e.g. model.hidden=[64],[128,64]")
    parts.append(value[start:])
    if len(parts) > 1 and any(not p.strip() for p in parts):
        raise ConfigError(f"override '{item or value}': empty value in the list; write "
                          "KEY=A,B,C with a value between every two commas")
    return parts


def expand(overrides: list[str]) -> tuple[list[str], list[str], list[list[str]]]:
    """(swept keys, the overrides with one value, one override list per member).

    Members are the cartesian product in the given order (the first swept key varies slowest);
    a key with one value stays one override.
    """
    axes: list[list[str]] = []
    keys: list[str] = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        values = split_values(raw, item) if sep else [raw]
        if len(values) > 1 and key.strip() in keys:
            raise ConfigError(f"override '{item}': {key.strip()} is swept twice; give its values "
                              "once, e.g. optimizer.lr=1e-3,3e-4")
        if len(values) > 1:
            keys.append(key.strip())
        axes.append([f"{key}={v}" for v in values] if sep else [item])
    fixed = [axis[0] for axis in axes if len(axis) == 1]
    return keys, fixed, [list(member) for member in itertools.product(*axes)]


def dump_members(config_path: str | Path, overrides: list[str], flags: list[str]) -> str:
    """Every member's resolved config as one YAML stream (--multirun --print-config)."""
    keys, _, members = expand(overrides)
    docs = []
    for index, member in enumerate(members):
        name = member_name(index, member_values(keys, member))
        cfg = config_mod.load(config_path, member + flags)
        docs.append(f"--- # {name}\n{config_mod.dump(cfg)}")
    return "".join(docs)


def member_values(keys: list[str], member: list[str]) -> dict[str, str]:
    """{swept key: the value this member gives it}."""
    given = dict(item.partition("=")[::2] for item in member)
    return {key: given[key] for key in keys}


def member_name(index: int, values: dict[str, str]) -> str:
    """A member's folder name: its index, then key=value for each swept key, file-name safe."""
    parts = [f"{index:02d}"]
    for key, value in values.items():
        value = re.sub(r"[\[\]{}()'\" ]", "", value)
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", "-".join(parts))[:120]


def check_flags(resume: str | None, run_dir: str | None) -> None:
    """--multirun starts new runs in its own folder: --resume and --run-dir do not apply."""
    if resume is not None:
        raise ConfigError("--multirun starts new runs; --resume continues one run, without "
                          "--multirun")
    if run_dir is not None:
        raise ConfigError("--multirun writes each member under train.out_dir/sweep-<name>-<time>/;"
                          " set train.out_dir instead of --run-dir")
    from trainer.parallel import launched

    if launched():  # every rank would write the sweep's own files
        raise ConfigError("--multirun trains one member after another in one process; run it "
                          "without mpiexec")


def run_sweep(config_path: str | Path, overrides: list[str], device: str | None = None,
              progress: str | None = None, quiet: bool = False,
              say: Callable[[str], None] | None = None,
              warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train every member one after another; return the summary written to sweep.json.

    say gets a line as each member starts; warn gets each failed member's error.
    """
    from trainer.run_list import summarize
    from trainer.session import train

    keys, fixed, members = expand(overrides)
    flags = config_mod.flag_overrides(device=device, progress=progress)
    base = config_mod.load(config_path, fixed + flags)  # a wrong file or fixed key stops here
    for member in members:  # every member's config is valid before the sweep folder exists
        try:
            config_mod.load(config_path, member + flags)
        except ConfigError as exc:
            raise ConfigError(f"sweep member {' '.join(member)}: {exc}") from None
    folder = _new_folder(Path(base.train.out_dir), f"sweep-{base.name}")
    summary: dict[str, Any] = {"folder": str(folder), "config": str(config_path),
                               "overrides": list(overrides),
                               "keys": keys, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "status": "running", "members": []}
    for index, member in enumerate(members):
        values = member_values(keys, member)
        row: dict[str, Any] = {"index": index, "values": values, "overrides": member,
                               "run": member_name(index, values), "status": "not run",
                               "best_val_acc": None, "test_acc": None, "error": None}
        summary["members"].append(row)
    _write(folder, summary)
    try:
        for row in summary["members"]:
            if say is not None:
                say(f"sweep member {row['index'] + 1}/{len(members)}: "
                    + " ".join(f"{k}={v}" for k, v in row["values"].items()))
            row["status"] = "running"
            try:
                code, path = train(config_path, row["overrides"], run_dir=folder / row["run"],
                                   device=device, progress=progress, quiet=quiet)
            except (EngineError, OSError) as exc:
                row.update(status="failed", error=str(exc))
                if warn is not None:
                    warn(f"sweep member {row['run']} failed: {exc}")
                _write(folder, summary)
                continue
            listed = summarize(path)
            row.update(best_val_acc=listed["best_val_acc"], test_acc=listed["test_acc"],
                       status="interrupted" if code == EXIT_INTERRUPTED else listed["status"])
            _write(folder, summary)
            if code == EXIT_INTERRUPTED:
                break
    except BaseException as exc:  # Ctrl-C twice, or a bug: record where the sweep stopped
        stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        for row in summary["members"]:
            row["status"] = stopped if row["status"] == "running" else row["status"]
        summary["status"] = stopped
        raise
    finally:
        if summary["status"] == "running":
            summary["status"] = _overall(summary["members"])
        summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        _write(folder, summary)
    return summary


def exit_code(summary: dict[str, Any]) -> int:
    """0 when every member finished, 130 when the sweep was interrupted, else 1."""
    return {"finished": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(summary["status"],
                                                                      EXIT_RUNTIME)


def _overall(members: list[dict[str, Any]]) -> str:
    states = {m["status"] for m in members}
    if "interrupted" in states:
        return "interrupted"
    return "failed" if states - {"finished", "early_stopped"} else "finished"


def _new_folder(parent: Path, stem: str) -> Path:
    """A new sweep folder (a suffix when one of the same second exists; none is reused)."""
    base = parent / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            candidate, n = base.with_name(f"{base.name}-{n}"), n + 1


def _write(folder: Path, summary: dict[str, Any]) -> None:
    write_atomic(folder / SWEEP_FILE, json.dumps(summary, indent=2) + "\n")
