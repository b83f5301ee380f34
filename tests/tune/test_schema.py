"""Spaces are checked against the config schema before any trial: paths, and every value a path can take."""

from __future__ import annotations

import pytest

from batchlab.config import Config
from batchlab.errors import ConfigError
from batchlab.tune.schema import check_space
from batchlab.tune.space import parse_space


def _check(raw: dict, base: Config) -> None:
    check_space(parse_space(raw, source="--space s.yaml"), base)


def test_a_valid_space_passes(tiny_config: Config) -> None:
    _check(
        {
            "train.optimizer.lr": {"log_uniform": [1e-4, 1e-1]},
            "train.batch_size": {"choice": [16, 32, "full"]},
            "model.hidden": {"choice": [[128], [256, 256]]},
            "model.dropout": {"uniform": [0, 0.5]},
            "train.epochs": {"int": [5, 50]},
            "train.schedule": {"choice": [{"name": "constant"}, {"name": "cosine", "warmup_steps": 10}]},
        },
        tiny_config,
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train.optimizr.lr": {"uniform": [0.1, 1]}}, 'unknown key "optimizr" in train; did you mean "optimizer"?'),
        ({"trian.epochs": {"int": [1, 3]}}, 'unknown key "trian" in the config; did you mean "train"?'),
        ({"model.hiden": {"choice": [[8]]}}, 'did you mean "hidden"?'),
        ({"train.batch_size.value": {"choice": [8]}}, "train.batch_size is a value, not a section"),
        (
            {"train.batch_size": {"choice": [16, -3]}},
            'train.batch_size: choice -3 is invalid: expected a positive integer, "full" or a token budget '
            'like "4096tokens"',
        ),
        ({"model.dropout": {"uniform": [0, 1]}}, "model.dropout: uniform [0, 1] value 1 is invalid"),
        (
            {"train.epochs": {"uniform": [1, 5]}},
            "train.epochs: uniform [1, 5] value 2.528 is invalid: input should be a valid integer",
        ),
        ({"model.hidden": {"int": [8, 64]}}, "model.hidden: int [8, 64] value 8 is invalid"),
        (
            {"train.optimizer.name": {"choice": ["adam", "adma"]}},
            'choice \'adma\' is invalid: unknown value "adma"; did you mean "adam"?',
        ),
    ],
)
def test_a_bad_path_or_value_is_named(tiny_config: Config, raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _check(raw, tiny_config)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
