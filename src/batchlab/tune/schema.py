"""Check a search space against the config schema before any trial runs.

Every dotted path must name a field of :class:`batchlab.config.Config`, and every value the space can
produce must be valid for that field: each choice, and the ends and middle of each range, are put into
the base config one at a time and validated as ``batchlab train`` would validate them. A combination of
values that only fails together (say ``nesterov: true`` with ``momentum: 0``) is left to the trial,
which then fails with the reason recorded.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from typing import Any

from pydantic import BaseModel

from batchlab.config import Config, make_config
from batchlab.errors import ConfigError, did_you_mean
from batchlab.tune.space import Param, SearchSpace

__all__ = ["check_path", "check_space", "set_path"]


def check_space(space: SearchSpace, base: Config) -> None:
    """Validate every path and every sample value of ``space`` on top of ``base``.

    Raises:
        ConfigError: one line naming the space file, the path and what is wrong.
    """
    for param in space.params:
        check_path(param.path, source=space.source)
    raw = base.model_dump(mode="json")
    for param in space.params:
        for value in param.sample_values():
            _check_value(param, value, raw, space.source)


def check_path(path: str, source: str = "--space") -> None:
    """Raise unless ``path`` names a field (or a section) of :class:`Config`.

    Raises:
        ConfigError: ``--space FILE: train.optimizr.lr: unknown key "optimizr"; did you mean "optimizer"?``
    """
    model: type[BaseModel] | None = Config
    parts = path.split(".")
    for i, part in enumerate(parts):
        if model is None:
            parent = ".".join(parts[:i])
            raise ConfigError(f"{source}: {path}: {parent} is a value, not a section with fields")
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:i]) or "the config"
            raise ConfigError(f'{source}: {path}: unknown key "{part}" in {where}; {did_you_mean(part, list(fields))}')
        annotation = fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def set_path(raw: MutableMapping[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating sections as needed."""
    parts = path.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, MutableMapping):
            child = node[part] = {}
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _check_value(param: Param, value: Any, base_raw: Mapping[str, Any], source: str) -> None:
    raw = copy.deepcopy(dict(base_raw))
    set_path(raw, param.path, value)
    try:
        make_config(raw)
    except ConfigError as exc:
        reason = str(exc).removeprefix(f"{param.path}: ")
        what = "choice" if param.kind == "choice" else f"{param.kind} [{_short(param.low)}, {_short(param.high)}] value"
        raise ConfigError(f"{source}: {param.path}: {what} {_short(value)} is invalid: {reason}") from None


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(value)
    return str(value)
