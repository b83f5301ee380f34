"""Search space files: the five distributions, YAML 1.2 numbers, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchlab.errors import ConfigError
from batchlab.tune.space import load_space, parse_space
from tests.tune.conftest import write_yaml


def test_a_space_file_with_every_kind_parses_in_file_order(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "space.yaml",
        """
train.optimizer.lr: {log_uniform: [1e-4, 1e-1]}
train.batch_size: {choice: [16, 32, 64, 128, 256]}
model.hidden: {choice: [[128], [256, 256]]}
model.dropout: {uniform: [0, 0.5]}
train.epochs: {int: [5, 50]}
train.accumulate: {int_log: [1, 8]}
""",
    )
    space = load_space(path)
    assert space.paths == [
        "train.optimizer.lr",
        "train.batch_size",
        "model.hidden",
        "model.dropout",
        "train.epochs",
        "train.accumulate",
    ]
    lr = space.param("train.optimizer.lr")
    assert (lr.kind, lr.low, lr.high) == ("log_uniform", 1e-4, 0.1)  # 1e-4 is a float, not the string "1e-4"
    assert space.param("model.hidden").choices == ([128], [256, 256])
    assert space.param("train.epochs").sample_values() == [5, 27, 50]


def test_list_choices_are_stored_as_json_and_decoded_back() -> None:
    space = parse_space({"model.hidden": {"choice": [[64], [32, 32]]}, "train.batch_size": {"choice": [8, "full"]}})
    hidden = space.param("model.hidden")
    assert hidden.encoded_choices() == ["[64]", "[32, 32]"]
    assert space.decode({"model.hidden": "[32, 32]", "train.batch_size": "full"}) == {
        "model.hidden": [32, 32],
        "train.batch_size": "full",
    }


def test_the_yaml_form_round_trips() -> None:
    raw = {"train.optimizer.lr": {"log_uniform": [0.001, 0.1]}, "train.epochs": {"int": [1, 9, 2]}}
    assert parse_space(raw).to_dict() == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model.hidden": {"choice": []}}, "model.hidden: choice is empty"),
        ({"model.dropout": {"uniform": [0.5, 0.1]}}, "model.dropout: uniform low 0.5 is greater than high 0.1"),
        ({"train.optimizer.lr": {"log_uniform": [0, 0.1]}}, "needs a positive range (low > 0), got [0, 0.1]"),
        ({"train.optimizer.lr": {"log_uniform": [-1, 1]}}, "needs a positive range"),
        (
            {"train.optimizer.lr": {"log_unifrom": [1e-4, 1e-1]}},
            "unknown distribution 'log_unifrom'; did you mean \"log_uniform\"?",
        ),
        ({"train.epochs": {"int": [1.5, 4]}}, "int expects integers [low, high]"),
        ({"train.epochs": {"int": [1, 4, 0]}}, "step must be positive"),
        ({"train.optimizer.lr": {"log_uniform": [1e-4]}}, "log_uniform expects [low, high]"),
        ({"train.optimizer.lr": 0.1}, "expected one of {choice: [...]}"),
        ({"train.batch_size": {"choice": [16, 16]}}, "choice lists a value twice"),
        (
            {"train.optimizer": {"choice": [{"name": "adam"}]}, "train.optimizer.lr": {"uniform": [0.1, 1]}},
            "lies inside",
        ),
        ({}, "expected a mapping of dotted config paths"),
        ([1, 2], "expected a mapping of dotted config paths"),
    ],
)
def test_a_malformed_space_is_one_clear_error(raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_space(raw, source="--space s.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("--space s.yaml")


def test_a_missing_or_broken_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_space(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_space(write_yaml(tmp_path / "bad.yaml", "a: [1, 2\n"))
