"""Check the open config sections (model, optimizer, scheduler) against the classes they build."""

from __future__ import annotations

import inspect
import math
from typing import Any

from engine.errors import ConfigError
from trainer.schema import OPTIMIZERS, SCHEDULERS
from trainer.suggest import did_you_mean
from trainer.yaml_source import where

# Arguments the trainer supplies itself, never the config.
_SUPPLIED = {"self", "params", "optimizer", "last_epoch", "verbose", "args", "kwargs"}


def optimizer_class(name: str) -> Any:
    """engine.optim class for a config name."""
    from engine import optim

    return getattr(optim, OPTIMIZERS[name])


def scheduler_class(name: str) -> Any:
    """engine.optim.lr_scheduler class for a config name (None for 'none')."""
    if SCHEDULERS[name] is None:
        return None
    from engine.optim import lr_scheduler

    return getattr(lr_scheduler, SCHEDULERS[name])


def check(cfg: Any, marks: dict[str, str]) -> None:
    """Raise ConfigError for an unknown model or an argument a class does not take."""
    from trainer.zoo import resolve

    try:
        cls = resolve(cfg.model.name, where(marks, "model.name"))
    except ConfigError as exc:
        raise ConfigError(f"{where(marks, 'model.name')}: model.name: {exc}") from None
    cfg.model.kwargs = _check_args("model", cls, cfg.model.kwargs, marks, ())
    cfg.optimizer.kwargs = _check_args("optimizer", optimizer_class(cfg.optimizer.name),
                                       cfg.optimizer.kwargs, marks, ("lr", "weight_decay"))
    if cfg.scheduler.name == "none" and cfg.scheduler.kwargs:
        key = next(iter(cfg.scheduler.kwargs))
        raise ConfigError(f"{where(marks, 'scheduler.' + key)}: scheduler.{key}: scheduler.name "
                          "is 'none'; set scheduler.name or remove the key")
    cfg.scheduler.kwargs = _check_args("scheduler", scheduler_class(cfg.scheduler.name),
                                       cfg.scheduler.kwargs, marks, ("mode",))


def _check_args(section: str, cls: Any, kwargs: dict[str, Any], marks: dict[str, str],
                own: tuple[str, ...]) -> dict[str, Any]:
    if cls is None:
        return kwargs
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return kwargs
    allowed = {n: p for n, p in params.items()
               if n not in _SUPPLIED and n not in own
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    out = {}
    for key, value in kwargs.items():
        dotted = f"{section}.{key}"
        if key not in allowed:
            if takes_any:
                out[key] = value
                continue
            hint = (did_you_mean(key, list(allowed) + list(own), f"{section}.") or
                    f"{cls.__name__} takes: {', '.join(list(own) + list(allowed)) or 'nothing'}")
            raise ConfigError(f"{where(marks, dotted)}: unknown key '{dotted}' for "
                              f"{cls.__name__}; {hint}")
        out[key] = _like_default(value, allowed[key].default, dotted, marks)
        if section == "scheduler" and key in _COUNTS:
            _check_count(out[key], _COUNTS[key], dotted, marks)
    missing = [n for n, p in allowed.items() if p.default is p.empty and n not in out]
    if missing:
        raise ConfigError(f"{where(marks, section)}: {section}: {cls.__name__} needs "
                          f"{', '.join(section + '.' + m for m in missing)}; add them")
    return out


# Scheduler arguments that count steps or epochs: the classes take any value (as PyTorch's do)
# and fail in step(), or never, on nonsense like step_size -3 or milestones 'abc'.
_COUNTS = {"step_size": 1, "T_max": 1, "total_steps": 1, "epochs": 1, "steps_per_epoch": 1,
           "T_mult": 1, "total_iters": 0, "milestones": 0}


def _check_count(value: Any, least: int, key: str, marks: dict[str, str]) -> None:
    items = value if key.endswith("milestones") and isinstance(value, list | tuple) else [value]
    if key.endswith("milestones") and not isinstance(value, list | tuple):
        items = [None]
    if value is None and not key.endswith("milestones"):
        return  # an optional count left unset (OneCycleLR's total_steps or epochs)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < least for v in items):
        what = "a list of integers" if key.endswith("milestones") else "an integer"
        raise ConfigError(f"{where(marks, key)}: {key}: expected {what} >= {least}, "
                          f"got {value!r}")


def _like_default(value: Any, default: Any, key: str, marks: dict[str, str]) -> Any:
    """Type a value like the parameter's default (so '1e-3' is a float where 0.001 is)."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ValueError
        elif isinstance(default, float) and not isinstance(value, bool):
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        elif isinstance(default, int) and not isinstance(value, bool):
            # An int default (momentum=0) does not make the argument integer-only.
            if isinstance(value, int | float):
                return value
            number = float(value)
            return int(number) if number.is_integer() and "." not in str(value) else number
        elif isinstance(default, tuple) and isinstance(value, list):
            return tuple(float(v) if isinstance(d, float) else v
                         for v, d in zip(value, default + (None,) * len(value), strict=False))
    except (ValueError, TypeError):
        kind = {"bool": "true or false", "float": "a number", "int": "a number"}.get(
            type(default).__name__, type(default).__name__)
        raise ConfigError(f"{where(marks, key)}: {key}: expected {kind} like the default "
                          f"{default!r}, got {value!r}") from None
    return value
