"""Read YAML keeping where each key came from, so config errors can name the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import ConfigError

# A config is a few hundred bytes; these bound what a hostile file can cost to parse.
MAX_BYTES = 1_000_000
MAX_NODES = 100_000  # YAML nodes after alias expansion (an alias bomb multiplies this)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when libyaml is there


def read_yaml(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Load a YAML mapping from path; also return {dotted key: "file:line"} for every key."""
    path = Path(path)
    if not path.is_file():
        hint = "it is a folder; pass the config.yaml inside" if path.is_dir() else "check the path"
        raise ConfigError(f"config file {path} not found ({hint})")
    try:
        with path.open("rb") as f:
            blob = f.read(MAX_BYTES + 1)
        if len(blob) > MAX_BYTES:
            raise ConfigError(f"{path}: config file is larger than {MAX_BYTES:,} bytes; a config "
                              "holds settings, not data")
        text = blob.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    data, marks = parse_yaml(text, str(path))
    if not data:
        raise ConfigError(f"{path}: config file is empty; set at least data.dataset and model.name "
                          "(see configs/mnist.yaml)")
    return data, marks


def parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse YAML text (named source in messages) into a dict and a key -> location map."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: config text is larger than {MAX_BYTES:,} characters")
    try:
        _count_events(text, source)
        loader = _Loader(text)
        # The composed nodes keep marks (line numbers) and also give the plain values.
        node = loader.get_single_node()
        if node is not None:
            _check_size(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: YAML syntax error: {problem}; fix the YAML syntax") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a YAML mapping (key: value), "
                          f"found a {type(data).__name__}")
    marks: dict[str, str] = {}
    _walk(node, "", source, marks, set())
    return data, marks


def _count_events(text: str, source: str) -> None:
    """Refuse a document with more than MAX_NODES values before building any node of it."""
    scanner = _Loader(text)
    try:
        count = 0
        while scanner.check_event():
            scanner.get_event()
            count += 1
            if count > MAX_NODES:
                raise ConfigError(f"{source}: YAML has more than {MAX_NODES:,} values; a config "
                                  "holds settings, not data")
    finally:
        scanner.dispose()


def _check_size(root: yaml.Node, source: str) -> None:
    """Refuse a document whose alias-expanded node count passes MAX_NODES (e.g. a YAML bomb).

    Sizes are memoised per node, so this is linear in the nodes parsed even when aliases
    make the expanded tree exponential; a node that contains itself counts as too large.
    """
    sizes: dict[int, int] = {}
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:  # iterative post-order: deep nesting cannot overflow the Python stack
        node, children_done = pending.pop()
        if id(node) in sizes and sizes[id(node)] >= 0:
            continue
        kids = _children(node)
        if not children_done:
            if id(node) in sizes:  # met again while its children are pending: a cycle
                raise ConfigError(f"{source}: YAML refers to itself through an alias; "
                                  "remove the recursive alias")
            sizes[id(node)] = -1
            pending.append((node, True))
            pending.extend((k, False) for k in kids if id(k) not in sizes)
            if any(sizes.get(id(k)) == -1 for k in kids):
                raise ConfigError(f"{source}: YAML refers to itself through an alias; "
                                  "remove the recursive alias")
            continue
        total = 1 + sum(sizes[id(k)] for k in kids)
        if total > MAX_NODES:
            raise ConfigError(f"{source}: YAML expands to more than {MAX_NODES:,} values "
                              "(aliases or a huge list); a config holds settings, not data")
        sizes[id(node)] = total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _walk(node: yaml.Node, prefix: str, source: str, marks: dict[str, str],
          seen_nodes: set[int]) -> None:
    if not isinstance(node, yaml.MappingNode) or id(node) in seen_nodes:
        return  # an aliased mapping is marked where it was first written
    seen_nodes.add(id(node))
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        where = f"{source}:{key_node.start_mark.line + 1}"
        if key in seen:
            raise ConfigError(f"{where}: duplicate key '{key}'; keep only one")
        seen.add(key)
        marks[key] = where
        _walk(value_node, key + ".", source, marks, seen_nodes)


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
