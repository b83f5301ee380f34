"""Reading YAML that a person wrote: configs, search spaces and ``--set`` values.

Safe loading only (no Python tags), ``1e-4`` read as a float (as in YAML 1.2), and limits that turn
what would otherwise be a crash, a silent surprise or minutes of parsing into one line:

- a file larger than :data:`MAX_BYTES` (a config is a page of text, not data);
- nesting deeper than :data:`MAX_DEPTH` levels (deep nesting exhausts Python's recursion);
- aliases that expand to more than :data:`MAX_VALUES` values (the "billion laughs");
- a key given twice in one mapping (YAML says keys are unique; PyYAML would keep the last silently).

The checks run on PyYAML's event stream, which is produced without recursion, before any node is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from batchlab.errors import ConfigError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "parse_yaml", "read_yaml"]

MAX_BYTES = 1 << 20
"""Largest YAML file read (1 MiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists."""
MAX_VALUES = 1_000_000
"""Most values a document may expand to through aliases."""

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YamlLoader(_Loader):  # type: ignore[misc]
    """The safe loader, but ``1e-4`` is a float (as in YAML 1.2) rather than a string (YAML 1.1)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path, what: str) -> Any:
    """The YAML document in ``path``.

    Args:
        path: the file.
        what: how messages name it, e.g. ``"config file 'c.yaml'"``.

    Raises:
        ConfigError: ``"{what} does not exist"``, ``"... cannot be read: ..."``, ``"... is not valid YAML
            at line N"``, or one of the limits of this module.
    """
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(
                f"{what} is {size / 2**20:.1f} MiB; a YAML file here is at most {MAX_BYTES // 2**20} MiB "
                "(keep data in data files)"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} does not exist") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{what} is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at line {line}") from None
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read: {exc.strerror or exc.__class__.__name__}") from None
    return parse_yaml(text, what)


def parse_yaml(text: str, what: str) -> Any:
    """The YAML document in ``text``, checked against the limits of this module first.

    Raises:
        ConfigError: invalid YAML (with its line), too deep, too large after aliases, or a duplicate key.
    """
    try:
        _check_events(text, what)
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError(f"{what} is not valid YAML{line}{': ' + problem if problem else ''}") from None


class _Collection:
    """A mapping or list being read: its size so far and, for a mapping, the keys seen."""

    def __init__(self, mapping: bool, anchor: str | None, path: str) -> None:
        self.mapping = mapping
        self.anchor = anchor
        self.path = path
        self.last_key = ""
        self.values = 1
        self.items = 0  # events directly inside: keys at even positions of a mapping
        self.keys: set[str] = set()


def _check_events(text: str, what: str) -> None:
    stack: list[_Collection] = []
    anchors: dict[str, int] = {}
    total = 0
    for event in yaml.parse(text, Loader=_YamlLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            _count_item(stack, event, what, key=None)
            path = _child_path(stack)
            stack.append(_Collection(isinstance(event, yaml.MappingStartEvent), event.anchor, path))
            if len(stack) > MAX_DEPTH:
                raise ConfigError(
                    f"{what} nests mappings and lists more than {MAX_DEPTH} levels deep (line {_line(event)})"
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            done = stack.pop()
            if done.anchor is not None:
                anchors[done.anchor] = done.values
            if stack:
                stack[-1].values += done.values
            else:
                total += done.values
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            size = anchors.get(event.anchor or "", 1) if isinstance(event, yaml.AliasEvent) else 1
            key = event.value if isinstance(event, yaml.ScalarEvent) else None
            _count_item(stack, event, what, key=key)
            if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
                anchors[event.anchor] = 1
            if stack:
                stack[-1].values += size
            else:
                total += size
        else:
            continue
        if total + sum(c.values for c in stack) > MAX_VALUES:
            raise ConfigError(f"{what} expands to more than {MAX_VALUES:,} values (YAML aliases repeated in aliases)")


def _count_item(stack: list[_Collection], event: Any, what: str, key: str | None) -> None:
    """Note one item in the innermost collection; a mapping key seen before is an error."""
    if not stack:
        return
    parent = stack[-1]
    is_key = parent.mapping and parent.items % 2 == 0
    parent.items += 1
    if not is_key:
        return
    parent.last_key = key if key is not None else "?"
    if key is not None and key != "<<":
        if key in parent.keys:
            where = f"{parent.path}.{key}" if parent.path else key
            raise ConfigError(f"{what}: {where} is given twice (line {_line(event)}); keep one of them")
        parent.keys.add(key)


def _child_path(stack: list[_Collection]) -> str:
    """The dotted path of a collection that starts now, inside the innermost one."""
    if not stack:
        return ""
    parent = stack[-1]
    name = parent.last_key if parent.mapping else f"[{parent.items - 1}]"
    return f"{parent.path}.{name}" if parent.path and parent.mapping else f"{parent.path}{name}"


def _line(event: Any) -> int:
    mark = getattr(event, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 0
