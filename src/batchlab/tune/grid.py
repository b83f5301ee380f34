"""The finite grid of a search space, for grid search.

A ``choice`` contributes its values; an ``int`` range every integer (by its step), a ``uniform`` range
with a step every step. A continuous range (``uniform`` without a step, ``log_uniform``) has no finite
grid: ``--grid-points K`` spreads K points over it, evenly (``uniform``, ``int``) or geometrically
(``log_uniform``, ``int_log``), both ends included. With ``--grid-points``, integer ranges that hold more
than K integers are thinned to K points as well.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from batchlab.errors import ConfigError
from batchlab.tune.space import Param, SearchSpace

__all__ = ["MAX_GRID", "grid_points", "grid_product", "grid_size", "param_grid"]

MAX_GRID = 100_000
_MAX_INTEGERS = 1_000


def param_grid(param: Param, points: int | None = None) -> list[Any]:
    """The grid values of one param, as Optuna stores them (see :meth:`Param.encoded_choices`).

    Args:
        param: the tuned field.
        points: ``--grid-points``: how many values to take from a range (at least 2).

    Raises:
        ConfigError: a continuous range without ``points``, or an integer range too long to list.
    """
    if param.kind == "choice":
        return param.encoded_choices()
    if param.is_continuous and points is None:
        raise ConfigError(
            f"--method grid: {param.path} is a continuous range ({param.describe()}); "
            "give --grid-points K to take K values from it, or list the values with {choice: [...]}"
        )
    low, high = param.low, param.high
    if param.kind in ("int", "int_log"):
        step = int(param.step or 1)
        every = list(range(int(low), int(high) + 1, step))
        if points is None or len(every) <= points:
            if len(every) > _MAX_INTEGERS:
                raise ConfigError(
                    f"--method grid: {param.path} ({param.describe()}) holds {len(every)} integers; "
                    "give --grid-points K to take K of them"
                )
            return list(every)
        spread = _geometric(low, high, points) if param.kind == "int_log" else _linear(low, high, points)
        return sorted({int(low) + step * round((v - low) / step) for v in spread})
    if param.step is not None and points is None:
        count = math.floor((high - low) / param.step + 1e-9) + 1
        if count > _MAX_INTEGERS:
            raise ConfigError(
                f"--method grid: {param.path} ({param.describe()}) holds {count} steps; use --grid-points"
            )
        return [_round(low + i * param.step, low, high) for i in range(count)]
    assert points is not None
    spread = _geometric(low, high, points) if param.kind == "log_uniform" else _linear(low, high, points)
    return sorted({_round(v, low, high) for v in spread})


def grid_points(space: SearchSpace, points: int | None = None) -> dict[str, list[Any]]:
    """``{path: grid values}`` for Optuna's ``GridSampler``.

    Raises:
        ConfigError: as :func:`param_grid`, or a grid of more than ``MAX_GRID`` points.
    """
    if points is not None and points < 2:
        raise ConfigError(f"--grid-points: expected at least 2 points per range, got {points}")
    grid = {param.path: param_grid(param, points) for param in space.params}
    size = math.prod(len(values) for values in grid.values())
    if size > MAX_GRID:
        raise ConfigError(f"--method grid: the grid has {size:,} points (more than {MAX_GRID:,}); use fewer values")
    return grid


def grid_size(grid: dict[str, list[Any]]) -> int:
    """The number of points of the grid's product."""
    return math.prod(len(values) for values in grid.values())


def grid_product(grid: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
    """Every point of the grid, as tuples in the order of ``sorted(grid)``."""
    names = sorted(grid)
    return list(itertools.product(*(grid[name] for name in names)))


def _linear(low: float, high: float, points: int) -> list[float]:
    return [low + (high - low) * i / (points - 1) for i in range(points)]


def _geometric(low: float, high: float, points: int) -> list[float]:
    ratio = math.log(high / low)
    return [low * math.exp(ratio * i / (points - 1)) for i in range(points)]


def _round(value: float, low: float, high: float) -> float:
    # 6 significant digits: 0.1 + 0.2 stays 0.3 in the grid, the table and trials.csv; never past the ends.
    return min(max(float(f"{value:.6g}"), low), high)
