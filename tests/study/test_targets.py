"""Targets and the first evaluation that reaches them."""

from __future__ import annotations

import pytest

from batchlab.errors import ConfigError
from batchlab.study.targets import Target, first_reached, parse_target


def test_direction_comes_from_the_metric_name() -> None:
    assert parse_target("val_accuracy=0.95") == Target("val_accuracy", 0.95, "max")
    assert parse_target("val_loss=0.1") == Target("val_loss", 0.1, "min")
    assert parse_target("val_mae=3") == Target("val_mae", 3.0, "min")
    assert parse_target("val_r2=0.8").mode == "max"


def test_an_explicit_comparison_overrides_the_name() -> None:
    assert parse_target("val_loss>=0.5").mode == "max"
    assert parse_target("val_accuracy<=0.2").mode == "min"


@pytest.mark.parametrize("text", ["val_accuracy", "=0.9", "val_accuracy=high", "1x=2"])
def test_bad_targets_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--target"):
        parse_target(text)


def test_first_reached_takes_the_first_row_meeting_the_target() -> None:
    rows = [
        {"step": 5, "samples": 50, "seconds": 1.0, "train_seconds": 0.5, "val_loss": 0.4},
        {"step": 10, "samples": 100, "seconds": 2.0, "train_seconds": 1.0, "val_loss": None},
        {"step": 15, "samples": 150, "seconds": 3.0, "train_seconds": 1.5, "val_loss": 0.09},
        {"step": 20, "samples": 200, "seconds": 4.0, "train_seconds": 2.0, "val_loss": 0.05},
    ]
    hit = first_reached(rows, parse_target("val_loss=0.1"), time_key="train_seconds")
    assert hit is not None and (hit.step, hit.samples, hit.seconds, hit.index) == (15, 150, 1.5, 2)
    assert first_reached(rows, parse_target("val_loss=0.01")) is None


def test_nan_never_reaches_a_target() -> None:
    assert not Target("val_loss", 1.0, "min").reached(float("nan"))


def test_a_language_model_target_is_reached_going_down() -> None:
    from batchlab.study.targets import parse_target

    bpc = parse_target("val_bpc=1.5")
    assert bpc.mode == "min" and bpc.reached(1.4) and not bpc.reached(1.6)
    assert parse_target("val_perplexity=5").mode == "min"
