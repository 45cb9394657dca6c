"""Read YAML keeping where each key came from, so config errors can name the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import ConfigError


def read_yaml(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Load a YAML mapping from path; also return {dotted key: "file:line"} for every key."""
    path = Path(path)
    if not path.is_file():
        hint = "it is a folder; pass the config.yaml inside" if path.is_dir() else "check the path"
        raise ConfigError(f"config file {path} not found ({hint})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse YAML text (named source in messages) into a dict and a key -> location map."""
    try:
        # compose keeps node marks (line numbers); safe_load gives the plain values.
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: YAML syntax error: {problem}; fix the YAML syntax") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a YAML mapping (key: value), "
                          f"found a {type(data).__name__}")
    marks: dict[str, str] = {}
    _walk(node, "", source, marks)
    return data, marks


def _walk(node: yaml.Node, prefix: str, source: str, marks: dict[str, str]) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        where = f"{source}:{key_node.start_mark.line + 1}"
        if key in seen:
            raise ConfigError(f"{where}: duplicate key '{key}'; keep only one")
        seen.add(key)
        marks[key] = where
        _walk(value_node, key + ".", source, marks)


def where(marks: dict[str, str], key: str) -> str:
    """Where key (or its nearest enclosing section) was set: "file:line", or "config"."""
    while key and key not in marks:
        key = key.rpartition(".")[0]
    return marks.get(key, "config")


def parse_override(item: str) -> tuple[str, Any]:
    """Split 'a.b=value' into ('a.b', YAML-parsed value); the schema types it later."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{item}': expected KEY=VALUE with a dotted key, "
                          "e.g. optimizer.lr=0.01")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw  # not YAML (e.g. 'a: b: c'): keep the text; the schema decides
    return key, value
