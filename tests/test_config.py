"""Config validation: defaults, overrides, and one-line errors naming the field, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchlab.config import Config, config_to_yaml, load_config, make_config
from batchlab.errors import ConfigError


def test_defaults_follow_the_design() -> None:
    cfg = make_config()
    assert cfg.data.source == "digits"
    assert cfg.train.batch_size == 64
    assert cfg.train.optimizer.name == "sgd"
    assert cfg.data.split.val == 0.15 and cfg.data.split.test == 0.15


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.batch_size=-3",
            'train.batch_size: expected a positive integer, "full" or a token budget like "4096tokens", got -3',
        ),
        (
            "train.batch_size=0",
            'train.batch_size: expected a positive integer, "full" or a token budget like "4096tokens", got 0',
        ),
        (
            "train.batch_size=2.5",
            'train.batch_size: expected a positive integer, "full" or a token budget like "4096tokens", got 2.5',
        ),
        (
            "train.batch_size=half",
            'train.batch_size: expected a positive integer, "full" or a token budget like "4096tokens", got "half"',
        ),
        ("train.batch_sise=3", 'train.batch_sise: unknown key; did you mean "batch_size"?'),
        (
            "model.name=resnet",
            'model.name: unknown value "resnet"; expected one of: mlp, cnn, lstm, gru, transformer, gpt, bag',
        ),
        ("train.optimizer.name=adma", 'train.optimizer.name: unknown value "adma"; did you mean "adam"?'),
        ("train.schedule.name=cosin", 'train.schedule.name: unknown value "cosin"; did you mean "cosine"?'),
        ("data.split.val=1.5", "data.split.val: input should be less than 1, got 1.5"),
        ("data.split.test=-0.1", "data.split.test: input should be greater than or equal to 0, got -0.1"),
        ("data.augment=[flip]", "data.augment: unknown augmentation 'flip'; did you mean \"hflip\"?"),
        ("trian.epochs=3", 'trian: unknown key; did you mean "train"?'),
    ],
)
def test_bad_values_get_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config({}, [override])
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_split_fractions_must_leave_training_rows() -> None:
    with pytest.raises(ConfigError, match=r"data.split: split fractions val=0.5 and test=0.5 sum to 1"):
        make_config({"data": {"split": {"val": 0.5, "test": 0.5}}})


def test_full_and_one_are_valid_batch_sizes() -> None:
    assert make_config({}, ["train.batch_size=full"]).train.batch_size == "full"
    assert make_config({}, ["train.batch_size=1"]).train.batch_size == 1


def test_augment_shorthand_is_normalized() -> None:
    cfg = make_config({"data": {"augment": ["hflip", {"crop": {"padding": 3}}, {"name": "rotate", "degrees": 5}]}})
    assert [s.name for s in cfg.data.augment] == ["hflip", "crop", "rotate"]
    assert cfg.data.augment[1].padding == 3  # type: ignore[union-attr]
    # the resolved YAML reads back to the same config
    assert make_config(cfg.model_dump(mode="json")) == cfg


def test_yaml_round_trip_and_name_from_file(tmp_path: Path) -> None:
    path = tmp_path / "my-run.yaml"
    path.write_text("train: {batch_size: 128, epochs: 3}\nmodel: {hidden: [32]}\n")
    cfg = load_config(path, ["train.optimizer.lr=0.1"])
    assert cfg.name == "my-run"
    assert cfg.train.optimizer.lr == 0.1
    again = tmp_path / "again.yaml"
    again.write_text(config_to_yaml(cfg))
    assert load_config(again) == cfg


def test_missing_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {batch_size: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(scalar)


def test_override_without_equals_is_rejected() -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        make_config({}, ["train.batch_size"])


def test_config_object_is_accepted_and_copied() -> None:
    cfg = Config()
    assert make_config(cfg, ["train.epochs=2"]).train.epochs == 2
    assert cfg.train.epochs == 30


def test_a_batch_size_override_records_the_base_batch_for_lr_scaling() -> None:
    raw = {"train": {"batch_size": 32, "lr_scaling": {"rule": "linear"}}}
    assert make_config(raw, ["train.batch_size=256"]).train.lr_scaling.base_batch_size == 32
    assert make_config(raw).train.lr_scaling.base_batch_size is None  # unchanged batch: nothing to scale
    explicit = {"train": {"lr_scaling": {"rule": "sqrt", "base_batch_size": 8}}}
    assert make_config(explicit, ["train.batch_size=256"]).train.lr_scaling.base_batch_size == 8
    assert make_config({"train": {"batch_size": 32}}, ["train.batch_size=64"]).train.lr_scaling.base_batch_size is None


def test_yaml_reads_exponent_numbers_as_floats(tmp_path: Path) -> None:
    """``1e-4`` is a string in YAML 1.1 (PyYAML's default); config files and search spaces read it as a float."""
    from batchlab.config import read_yaml

    path = tmp_path / "c.yaml"
    path.write_text("lr: 1e-4\nsteps: 1E3\nname: 1e-4x\n")
    assert read_yaml(path, "config file") == {"lr": 1e-4, "steps": 1000.0, "name": "1e-4x"}
