"""YAML + dotted overrides -> a typed, validated Config; errors name the file and line."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal, get_type_hints

import yaml

from engine.errors import ConfigError
from trainer import schema, signatures
from trainer.schema import OPEN_SECTIONS, RESUMABLE_KEYS, Config
from trainer.suggest import did_you_mean
from trainer.yaml_source import parse_override, parse_yaml, read_yaml, where

__all__ = ["Config", "config_hash", "diff", "dump", "flag_overrides", "from_dict", "load",
           "to_dict"]


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply 'a.b=value' overrides, validate and return the Config."""
    raw, marks = read_yaml(path)
    if "name" not in raw:
        raw["name"] = Path(path).stem
    return from_dict(raw, marks, overrides)


def flag_overrides(device: str | None = None, progress: str | None = None) -> list[str]:
    """The dotted overrides that command-line flags stand for (after the user's, so they win).

    The one place flags become config values: `trainer train` and its --print-config both
    use it, so the printed config is the one that would run. --run-dir and --resume name
    folders, not config values, so they are not here.
    """
    flags = {"device": device, "train.progress": progress}
    return [f"{key}={value}" for key, value in flags.items() if value]


def loads(text: str, overrides: list[str] | tuple[str, ...] = (),
          source: str = "<config>") -> Config:
    """Like load, from YAML text."""
    raw, marks = parse_yaml(text, source)
    return from_dict(raw, marks, overrides)


def from_dict(raw: dict[str, Any], marks: dict[str, str] | None = None,
              overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Validate a plain nested dict (plus overrides) into a Config."""
    raw, marks = copy.deepcopy(raw), dict(marks or {})
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value, item)
        marks[key] = f"override '{item}'"
    cfg = _build(Config, raw, "", marks)
    _check_run_name(cfg.name, marks)
    _check_together(cfg, marks)
    signatures.check(cfg, marks)
    cfg.marks = marks  # not a field: where each key was set, for errors found when building
    return cfg


def marks_of(cfg: Config) -> dict[str, str]:
    """{dotted key: "file:line" or "override '...'"} of a loaded Config ({} if unknown)."""
    return getattr(cfg, "marks", {})


def _check_run_name(name: str, marks: dict[str, str]) -> None:
    """A run name becomes one folder under train.out_dir: it must not point anywhere else."""
    bad = (not name.strip() or name in (".", "..") or len(name) > 200
           or any(c in "/\\:" or ord(c) < 32 for c in name) or Path(name).is_absolute())
    if bad:
        raise ConfigError(f"{where(marks, 'name')}: name: {name!r} is not a valid run name; use "
                          "one folder name without path separators, e.g. mnist-mlp")


def _check_together(cfg: Config, marks: dict[str, str]) -> None:
    """Rules that involve more than one key."""
    if cfg.train.epochs is None and cfg.train.max_steps is None:
        raise ConfigError(f"{where(marks, 'train.epochs')}: train.epochs and train.max_steps are "
                          "both null; set at least one")
    _check_normalize(cfg, marks)
    if cfg.data.val_fraction == 0 and cfg.train.monitor.startswith("val_"):
        raise ConfigError(f"{where(marks, 'train.monitor')}: train.monitor is "
                          f"{cfg.train.monitor} but data.val_fraction is 0; monitor train_loss "
                          "or train_acc, or carve a validation split")


def mean_std(norm: Any) -> tuple[list[float], list[float]]:
    """data.normalize's (mean, std) as per-channel lists; ValueError unless it is well formed.

    [mean, std] with two numbers (one channel, or the same for all), or [[m1, ...], [s1, ...]]
    with one value per channel, as torchvision's Normalize(mean, std) takes them; std > 0.
    """
    if not isinstance(norm, list | tuple) or len(norm) != 2:
        raise ValueError(norm)
    mean, std = ([v] if not isinstance(v, list | tuple) else list(v) for v in norm)
    if len(mean) != len(std) or not mean or isinstance(norm[0], list) != isinstance(norm[1],
                                                                                    list):
        raise ValueError(norm)
    mean, std = ([_scalar(v, float) for v in vals] for vals in (mean, std))
    if min(std) <= 0:
        raise ValueError(norm)
    return mean, std


def _check_normalize(cfg: Config, marks: dict[str, str]) -> None:
    """Fill in the data set's usual normalisation (idx: later, from its data); check the form."""
    if cfg.data.normalize is None:
        if cfg.data.dataset in schema.NORMALIZE:
            cfg.data.normalize = list(schema.NORMALIZE[cfg.data.dataset])
        return
    norm = cfg.data.normalize
    try:
        mean, std = mean_std(norm)
    except (ValueError, TypeError):
        raise ConfigError(f"{where(marks, 'data.normalize')}: data.normalize: expected [mean, std]"
                          f" with std > 0, each a number or a list with one value per channel "
                          f"([[m1, m2, m3], [s1, s2, s3]]), got {norm}") from None
    cfg.data.normalize = [mean, std] if isinstance(norm[0], list | tuple) else [mean[0], std[0]]


def to_dict(cfg: Config) -> dict[str, Any]:
    """The config as a plain nested dict, open sections' arguments flattened into them."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            section = {k: v for k, v in dataclasses.asdict(value).items() if k != "kwargs"}
            section.update(getattr(value, "kwargs", {}))
            out[f.name] = {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}
        else:
            out[f.name] = value
    return out


class _Dumper(yaml.SafeDumper):
    """Block style for sections, flow style for lists: [0.1307, 0.3081]."""


_Dumper.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def dump(cfg: Config) -> str:
    """The resolved config as YAML; loading it gives the same Config."""
    return yaml.dump(to_dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def diff(old: Config, new: Config, ignore: frozenset[str] = RESUMABLE_KEYS) -> list[str]:
    """Lines 'key: old -> new' for every setting that differs, except the ignored keys."""
    a, b = flatten(to_dict(old)), flatten(to_dict(new))
    lines = []
    for key in sorted(set(a) | set(b)):
        if key not in ignore and a.get(key, "<unset>") != b.get(key, "<unset>"):
            lines.append(f"{key}: {a.get(key, '<unset>')!r} -> {b.get(key, '<unset>')!r}")
    return lines


def config_hash(cfg: Config) -> str:
    """A hash of everything that changes what a run computes (resumable keys left out)."""
    kept = {k: v for k, v in flatten(to_dict(cfg)).items() if k not in RESUMABLE_KEYS
            and (k not in schema.LATER_KEYS or v != schema.LATER_KEYS[k])}
    blob = json.dumps(kept, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _set_dotted(raw: dict[str, Any], key: str, value: Any, item: str) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"override '{item}': '{part}' is not a section")
        node = nxt
    node[parts[-1]] = value


def _build(cls: type, raw: Any, prefix: str, marks: dict[str, str]) -> Any:
    section = prefix.rstrip(".") or "the config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where(marks, section)}: {section} must be a mapping of keys, "
                          f"got {raw!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "kwargs"}
    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    is_open = prefix.rstrip(".") in OPEN_SECTIONS
    for key, value in raw.items():
        key = str(key)
        dotted = prefix + key
        if key in fields:
            f = fields[key]
            if dataclasses.is_dataclass(hints[key]):
                values[key] = _build(hints[key], value if value is not None else {}, dotted + ".",
                                     marks)
            else:
                values[key] = coerce(value, hints[key], f.metadata, dotted, marks)
        elif is_open:
            extras[key] = value
        else:
            raise ConfigError(f"{where(marks, dotted)}: unknown key '{dotted}'"
                              f"{_suggest(key, list(fields), prefix)}")
    if is_open:
        values["kwargs"] = extras
    return cls(**values)


def _suggest(key: str, names: list[str], prefix: str) -> str:
    hint = did_you_mean(key, names, prefix)
    if hint:
        return f"; {hint}"
    # A key in the wrong section: point at the section that has it.
    for f in dataclasses.fields(Config):
        sub = get_type_hints(Config)[f.name]
        if dataclasses.is_dataclass(sub) and key in {g.name for g in dataclasses.fields(sub)}:
            return f"; {did_you_mean(key, [key], f'{f.name}.')}"
    return f"; allowed keys here: {', '.join(prefix + n for n in names)}"


def coerce(value: Any, typ: Any, rules: Any, key: str, marks: dict[str, str]) -> Any:
    """Check value against the type annotation and rules; return it converted (e.g. '1e-3')."""
    words = rules.get("words")  # a key that takes a few words only: {spelling: value}
    if words is not None:
        spelled = str(value).lower() if isinstance(value, bool | str) else None
        if spelled not in words:
            raise ConfigError(f"{where(marks, key)}: {key}: expected one of "
                              f"{', '.join(words)}, got {value!r}")
        return words[spelled]
    args = getattr(typ, "__args__", ())
    optional = type(None) in args
    if optional:
        words = ("null", "none", "~", *rules.get("null_words", ()))
        if value is None or (isinstance(value, str) and value.lower() in words):
            return None
        typ = next(a for a in args if a is not type(None))
    origin = getattr(typ, "__origin__", None)
    try:
        if origin is list:
            if not isinstance(value, list | tuple):
                raise ValueError
            out: Any = [_scalar(v, typ.__args__[0]) for v in value]
        elif origin is Literal:
            out = str(value)
        else:
            out = _scalar(value, typ)
    except (ValueError, TypeError):
        raise ConfigError(f"{where(marks, key)}: {key}: expected {_describe(typ, rules, optional)}"
                          f", got {value!r}") from None
    choices = rules.get("choices")
    if choices is not None and out not in choices:
        hint = did_you_mean(out, choices)
        hint = f" ({hint})" if hint else ""
        label = {"data.dataset": "dataset", "optimizer.name": "optimizer",
                 "scheduler.name": "scheduler"}.get(key, "value")
        raise ConfigError(f"{where(marks, key)}: {key}: unknown {label} '{out}'; choose one of: "
                          f"{', '.join(map(str, choices))}{hint}")
    if not _in_range(out, rules):
        raise ConfigError(f"{where(marks, key)}: {key}: expected {_describe(typ, rules, optional)}"
                          f", got {value!r}")
    return out


def _scalar(value: Any, typ: Any) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "false", "no", "off"):
            return value.lower() in ("true", "yes", "on")
        raise ValueError
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        number = float(value)
        if not math.isfinite(number):  # lr: .inf passed "> 0" and trained on NaN
            raise ValueError
        return number
    if typ is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError
        return str(value)
    if typ is Any:
        return value
    if isinstance(value, typ):
        return value
    raise TypeError


def _in_range(value: Any, rules: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return True
    checks = {"ge": value >= rules.get("ge", value), "gt": "gt" not in rules or value > rules["gt"],
              "le": value <= rules.get("le", value), "lt": "lt" not in rules or value < rules["lt"]}
    return all(checks.values())


def _describe(typ: Any, rules: Any, optional: bool) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    what = names.get(typ, "a list of numbers" if getattr(typ, "__origin__", None) is list else
                     str(typ))
    bounds = [f"{sym} {rules[k]}" for k, sym in (("ge", ">="), ("gt", ">"), ("le", "<="),
                                                  ("lt", "<")) if k in rules]
    if bounds:
        what += " " + " and ".join(bounds)
    return what + (" or null" if optional else "")

