"""The grid of a space: choices as listed, integer ranges in full, continuous ranges only with --grid-points."""

from __future__ import annotations

import math

import pytest

from batchlab.errors import ConfigError
from batchlab.tune.grid import grid_points, grid_product, param_grid
from batchlab.tune.space import parse_space


def _grid(raw: dict, points: int | None = None) -> dict:
    return grid_points(parse_space(raw), points)


def test_choices_and_integer_ranges_are_listed_exactly() -> None:
    grid = _grid({"train.batch_size": {"choice": [16, 32, "full"]}, "train.epochs": {"int": [2, 10, 4]}})
    assert grid == {"train.batch_size": [16, 32, "full"], "train.epochs": [2, 6, 10]}
    assert len(grid_product(grid)) == 9


def test_continuous_ranges_need_grid_points() -> None:
    with pytest.raises(ConfigError, match=r"train.optimizer.lr is a continuous range .*give --grid-points K"):
        _grid({"train.optimizer.lr": {"log_uniform": [1e-4, 1e-1]}})


def test_grid_points_spread_linearly_or_geometrically_with_both_ends() -> None:
    space = parse_space({"train.optimizer.lr": {"log_uniform": [1e-4, 1e-1]}, "model.dropout": {"uniform": [0, 0.5]}})
    assert param_grid(space.param("train.optimizer.lr"), 4) == [0.0001, 0.001, 0.01, 0.1]
    assert param_grid(space.param("model.dropout"), 3) == [0.0, 0.25, 0.5]
    assert param_grid(parse_space({"train.epochs": {"int_log": [1, 100]}}).param("train.epochs"), 3) == [1, 10, 100]


def test_a_stepped_uniform_range_is_listed_without_float_noise() -> None:
    values = param_grid(parse_space({"model.dropout": {"uniform": [0, 0.3, 0.1]}}).param("model.dropout"))
    assert values == [0.0, 0.1, 0.2, 0.3]


def test_too_few_grid_points_is_an_error() -> None:
    with pytest.raises(ConfigError, match="at least 2 points"):
        _grid({"model.dropout": {"uniform": [0, 0.5]}}, 1)


def test_the_size_is_the_product_of_the_value_counts() -> None:
    grid = _grid({"model.dropout": {"uniform": [0, 0.4]}, "train.optimizer.lr": {"log_uniform": [1e-3, 1]}}, 5)
    assert math.prod(len(v) for v in grid.values()) == 25
