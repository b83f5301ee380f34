"""Search spaces: which config fields a study tunes, and over which values.

A space is a YAML mapping from dotted config paths to one distribution each::

    train.optimizer.lr: {log_uniform: [1e-4, 1e-1]}     # float, sampled uniformly in log space
    train.batch_size: {choice: [16, 32, 64, 128, 256]}  # any YAML values, lists included
    model.hidden: {choice: [[128], [256, 256]]}
    model.dropout: {uniform: [0, 0.5]}                  # float; [low, high, step] for a grid of steps
    train.epochs: {int: [5, 50]}                        # integer; [low, high, step] too
    model.kernel_size: {choice: [3, 5]}
    train.optimizer.weight_decay: {log_uniform: [1e-6, 1e-2]}
    train.accumulate: {int_log: [1, 8]}                 # integer, sampled uniformly in log space

Numbers such as ``1e-4`` are read as floats (YAML 1.2), not as the strings PyYAML's YAML 1.1 makes of
them. Choice values that Optuna cannot store (lists, mappings) are stored as their JSON text and
decoded back when a trial's config is built. Paths and values are checked against the config schema
by :mod:`batchlab.tune.schema`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from batchlab.config import read_yaml
from batchlab.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    import optuna

__all__ = ["KINDS", "Param", "SearchSpace", "load_space", "parse_space"]

Kind = Literal["choice", "uniform", "log_uniform", "int", "int_log"]
KINDS: tuple[Kind, ...] = ("choice", "uniform", "log_uniform", "int", "int_log")
_INNER = 0.382
_SHAPES = (
    "{choice: [...]}, {uniform: [low, high]}, {log_uniform: [low, high]}, {int: [low, high]} or {int_log: [low, high]}"
)


@dataclass(frozen=True)
class Param:
    """One tuned config field.

    Attributes:
        path: dotted config path, e.g. ``train.optimizer.lr``; also the Optuna parameter name.
        kind: ``choice``, ``uniform``, ``log_uniform``, ``int`` or ``int_log``.
        choices: the values of a ``choice`` (as the config receives them).
        low: lower bound of a range (inclusive).
        high: upper bound of a range (inclusive).
        step: spacing of a ``uniform`` / ``int`` range (``None``: continuous, or 1 for integers).
    """

    path: str
    kind: Kind
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None

    @property
    def is_continuous(self) -> bool:
        """Whether the values are not a finite list (a float range without a step)."""
        return self.kind in ("uniform", "log_uniform") and self.step is None

    def encoded_choices(self) -> list[Any]:
        """The choices as Optuna stores them: None, bool, int, float and str as they are, others as JSON."""
        return [_encode(value) for value in self.choices]

    def decode(self, value: Any) -> Any:
        """The config value of an Optuna parameter value."""
        if self.kind == "choice":
            for choice in self.choices:
                if _encode(choice) == value and type(_encode(choice)) is type(value):
                    return choice
            return value
        if self.kind in ("int", "int_log"):
            return int(value)
        return float(value)

    def suggest(self, trial: optuna.trial.Trial) -> Any:
        """Ask the trial's sampler for a value; returns the config value."""
        if self.kind == "choice":
            return self.decode(trial.suggest_categorical(self.path, self.encoded_choices()))
        if self.kind in ("int", "int_log"):
            step = int(self.step or 1)
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=step, log=self.kind == "int_log")
        return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.kind == "log_uniform")

    def sample_values(self) -> list[Any]:
        """Values that exercise the field's validation: every choice, or both ends and an inner point of a range.

        The inner point of a float range lies 0.382 of the way (in log space for ``log_uniform``), so it is
        rarely a whole number: an integer field given a float range fails here, not in every trial.
        """
        if self.kind == "choice":
            return list(self.choices)
        if self.kind in ("int", "int_log"):
            return sorted({int(self.low), int(self.high), int((self.low + self.high) // 2)})
        if self.kind == "log_uniform":
            return [self.low, self.low * (self.high / self.low) ** _INNER, self.high]
        return [self.low, self.low + (self.high - self.low) * _INNER, self.high]

    def describe(self) -> str:
        """``log_uniform [0.0001, 0.1]``, ``choice [16, 32]``."""
        if self.kind == "choice":
            return f"choice {json.dumps(list(self.choices))}"
        bounds = [_number(self.low), _number(self.high)] + ([_number(self.step)] if self.step is not None else [])
        return f"{self.kind} [{', '.join(bounds)}]"

    def to_dict(self) -> dict[str, Any]:
        """The YAML form, ``{kind: [...]}``."""
        if self.kind == "choice":
            return {"choice": list(self.choices)}
        values: list[Any] = [self.low, self.high] + ([self.step] if self.step is not None else [])
        if self.kind in ("int", "int_log"):
            values = [int(v) for v in values]
        return {self.kind: values}


@dataclass(frozen=True)
class SearchSpace:
    """The tuned fields of a study, in the order of the space file.

    Attributes:
        params: one :class:`Param` per dotted path.
        source: where the space came from (a file name), for error messages.
    """

    params: tuple[Param, ...]
    source: str = "--space"

    @property
    def paths(self) -> list[str]:
        """The dotted config paths."""
        return [p.path for p in self.params]

    def param(self, path: str) -> Param:
        """The param of ``path``."""
        for param in self.params:
            if param.path == path:
                return param
        raise KeyError(path)

    def suggest(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        """Sample every param for ``trial``: ``{path: config value}``."""
        return {param.path: param.suggest(trial) for param in self.params}

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna parameter values (``trial.params``) as config values."""
        return {p.path: p.decode(params[p.path]) for p in self.params if p.path in params}

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of the whole space."""
        return {p.path: p.to_dict() for p in self.params}


def load_space(path: str | Path) -> SearchSpace:
    """Read a search space YAML file (see the module docstring for the format).

    Raises:
        ConfigError: the file is missing, is not YAML, or a distribution is malformed.
    """
    path = Path(path)
    raw = read_yaml(path, f"--space: file {str(path)!r}")
    return parse_space(raw, source=f"--space {path}")


def parse_space(raw: Any, source: str = "--space") -> SearchSpace:
    """Build a :class:`SearchSpace` from a mapping ``{dotted.path: {kind: values}}``.

    Raises:
        ConfigError: an empty space, a malformed distribution, an empty choice, ``low > high``,
            a log range that is not positive, or one path inside another.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"{source}: expected a mapping of dotted config paths to distributions, "
            f"e.g. 'train.optimizer.lr: {{log_uniform: [1e-4, 1e-1]}}'"
        )
    params = tuple(_parse_param(str(path), spec, source) for path, spec in raw.items())
    paths = sorted(p.path for p in params)
    for outer, inner in itertools.pairwise(paths):
        if inner.startswith(outer + "."):
            raise ConfigError(f"{source}: {inner} lies inside {outer}; tune one or the other")
    return SearchSpace(params, source)


def _parse_param(path: str, spec: Any, source: str) -> Param:
    where = f"{source}: {path}"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", path):
        raise ConfigError(f"{where}: expected a dotted config path such as train.optimizer.lr")
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"{where}: expected one of {_SHAPES}; got {_show(spec)}")
    ((kind, values),) = spec.items()
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown distribution {str(kind)!r}; {did_you_mean(str(kind), KINDS)}")
    if kind == "choice":
        if not isinstance(values, list):
            raise ConfigError(f"{where}: choice expects a list of values, got {_show(values)}")
        if not values:
            raise ConfigError(f"{where}: choice is empty; list at least one value")
        encoded = [_encode(v) for v in values]
        if len({json.dumps(e) for e in encoded}) != len(encoded):
            raise ConfigError(f"{where}: choice lists a value twice: {_show(values)}")
        return Param(path, "choice", choices=tuple(values))
    return _parse_range(path, kind, values, where)


def _parse_range(path: str, kind: Kind, values: Any, where: str) -> Param:
    integer = kind in ("int", "int_log")
    log = kind in ("log_uniform", "int_log")
    shape = "[low, high]" if log else "[low, high] or [low, high, step]"
    if not isinstance(values, list) or len(values) not in ((2,) if log else (2, 3)):
        raise ConfigError(f"{where}: {kind} expects {shape}, got {_show(values)}")
    for value in values:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or (integer and not float(value).is_integer()):
            expected = "integers" if integer else "numbers"
            raise ConfigError(f"{where}: {kind} expects {expected} {shape}, got {_show(values)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {kind} bounds must be finite, got {_show(values)}")
    low, high = float(values[0]), float(values[1])
    step = float(values[2]) if len(values) == 3 else None
    if low > high:
        raise ConfigError(f"{where}: {kind} low {_number(low)} is greater than high {_number(high)}")
    if log and low <= 0:
        raise ConfigError(f"{where}: {kind} needs a positive range (low > 0), got [{_number(low)}, {_number(high)}]")
    if step is not None and step <= 0:
        raise ConfigError(f"{where}: {kind} step must be positive, got {_number(step)}")
    return Param(path, kind, low=low, high=high, step=step)


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _show(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
