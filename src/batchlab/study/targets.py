"""Targets such as ``val_accuracy=0.95``: when a run first reaches one, in steps, samples, tokens and seconds.

The direction comes from the metric's name: losses and errors (``val_loss``, ``val_mse``, ``val_mae``)
must fall to the value, everything else (``val_accuracy``, ``val_r2``) must rise to it. ``>=`` or ``<=``
instead of ``=`` states the direction explicitly.

>>> target = parse_target("val_accuracy=0.95")
>>> str(target), target.reached(0.96), target.reached(0.9)
('val_accuracy >= 0.95', True, False)
>>> rows = [{"step": 10, "samples": 320, "seconds": 0.5, "val_accuracy": 0.9},
...         {"step": 20, "samples": 640, "seconds": 1.0, "val_accuracy": 0.96}]
>>> first_reached(rows, target)
TargetHit(step=20, samples=640, seconds=1.0, index=1, tokens=None)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from batchlab.errors import ConfigError
from batchlab.train.callbacks.tracker import resolve_mode

__all__ = ["Target", "TargetHit", "first_reached", "metric_direction", "parse_target"]

_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|=)\s*([-+0-9.eE]+)\s*$")


def metric_direction(metric: str) -> Literal["min", "max"]:
    """``min`` for losses, errors and a language model's ``bpc`` and ``perplexity``, else ``max`` (the rule
    early stopping uses: :func:`~batchlab.train.callbacks.tracker.resolve_mode`).

    >>> metric_direction("val_bpc"), metric_direction("val_accuracy")
    ('min', 'max')
    """
    return resolve_mode(metric, "auto")


@dataclass(frozen=True)
class Target:
    """A metric value to reach.

    Attributes:
        metric: a metrics-row name, e.g. ``val_accuracy``.
        value: the threshold, in the metric's units.
        mode: ``max``: reached when ``metric >= value``; ``min``: when ``metric <= value``.
    """

    metric: str
    value: float
    mode: Literal["min", "max"]

    def reached(self, value: float | None) -> bool:
        """Whether ``value`` meets the target (``None`` and NaN never do)."""
        if value is None or math.isnan(value):
            return False
        return value >= self.value if self.mode == "max" else value <= self.value

    def __str__(self) -> str:
        return f"{self.metric} {'>=' if self.mode == 'max' else '<='} {self.value:g}"


@dataclass(frozen=True)
class TargetHit:
    """The first evaluation at which a run met its target.

    Attributes:
        step: optimizer steps done.
        samples: training samples consumed.
        seconds: seconds of training until then (the clock the rows carry in ``time_key``).
        index: the row's position in the history.
        tokens: valid (unpadded) training tokens consumed, for text runs (their ``tokens`` column);
            ``None`` otherwise.
    """

    step: int
    samples: int
    seconds: float
    index: int
    tokens: int | None = None


def parse_target(text: str) -> Target:
    """Parse ``val_accuracy=0.95``, ``val_loss=0.1`` or ``val_r2>=0.8``.

    Raises:
        ConfigError: not of the form ``METRIC=VALUE``.
    """
    match = _PATTERN.match(text)
    if not match:
        raise ConfigError(f"--target: expected METRIC=VALUE such as val_accuracy=0.95 or val_loss=0.1, got {text!r}")
    metric, op, number = match.groups()
    try:
        value = float(number)
    except ValueError:
        raise ConfigError(f"--target: {number!r} is not a number (in {text!r})") from None
    mode: Literal["min", "max"] = metric_direction(metric) if op == "=" else ("max" if op == ">=" else "min")
    return Target(metric, value, mode)


def first_reached(rows: Sequence[dict[str, Any]], target: Target, *, time_key: str = "seconds") -> TargetHit | None:
    """The first row whose ``target.metric`` meets the target, or ``None`` if none does.

    Args:
        rows: metrics rows in order (``step``, ``samples``, ``time_key``, the metric, and ``tokens`` for text).
        target: what to reach.
        time_key: the row field that holds seconds since training started.
    """
    for index, row in enumerate(rows):
        value = row.get(target.metric)
        if value is not None and target.reached(float(value)):
            tokens = row.get("tokens")
            return TargetHit(
                int(row["step"]),
                int(row["samples"]),
                float(row.get(time_key) or 0.0),
                index,
                None if tokens is None else int(tokens),
            )
    return None
