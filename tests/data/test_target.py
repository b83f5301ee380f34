"""Tests of batchlab.data.target: task detection, class names and the target encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from batchlab.data.target import TargetEncoder, detect_task, missing_mask, resolve_task, value_strings
from batchlab.errors import DataError


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (pd.Series([True, False, True]), "classification"),
        (pd.Series(["a", "b", None]), "classification"),
        (pd.Series([0.5, 1.0, 2.0]), "regression"),
        (pd.Series([3, 4, 5, 3]), "classification"),
        (pd.Series([3.0, 4.0, np.nan]), "classification"),
        (pd.Series(np.arange(20)), "classification"),
        (pd.Series(np.arange(21)), "regression"),
    ],
)
def test_detect_task(values: pd.Series, task: str) -> None:
    assert detect_task(values) == task


def test_explicit_task_wins_over_detection() -> None:
    assert resolve_task("regression", pd.Series([0, 1, 0])) == "regression"
    assert resolve_task("auto", pd.Series([0, 1, 0])) == "classification"


def test_missing_mask_counts_inf_and_empty() -> None:
    assert missing_mask(pd.Series([1.0, np.nan, np.inf, -np.inf, 2.0])).tolist() == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert missing_mask(pd.Series(["a", None])).tolist() == [False, True]


def test_value_strings_print_whole_numbers_without_decimals() -> None:
    assert value_strings(pd.Series([3.0, 2.5, np.nan])).tolist()[:2] == ["3", "2.5"]
    assert pd.isna(value_strings(pd.Series([3.0, 2.5, np.nan])).iloc[2])
    assert value_strings(pd.Series([" a ", "b"])).tolist() == ["a", "b"]


def test_numeric_classes_sort_numerically_and_float_columns_match_int_columns() -> None:
    encoder = TargetEncoder("classification").fit(pd.Series([10, 2, 2, 10, 9]))
    assert encoder.classes_ == ["2", "9", "10"]
    assert encoder.transform(pd.Series([9.0, 10.0, 2.0])).tolist() == [1, 2, 0]


def test_single_class_is_a_data_error() -> None:
    with pytest.raises(
        DataError, match=r"^data\.target: column 'y' has a single class 'a'; classification needs at least 2$"
    ):
        TargetEncoder("classification", label="data.target: column 'y'").fit(pd.Series(["a", "a"]))


def test_unseen_class_at_transform_is_named() -> None:
    encoder = TargetEncoder("classification").fit(pd.Series(["cat", "dog"]))
    with pytest.raises(
        DataError, match=r"holds 'emu' \(row 2\), a class not seen in training; known classes: cat, dog"
    ):
        encoder.transform(pd.Series(["cat", "emu"]))


def test_regression_target_is_standardized_and_inverted() -> None:
    values = pd.Series([1.0, 2.0, 3.0, 6.0])
    encoder = TargetEncoder("regression").fit(values)
    assert encoder.mean_ == pytest.approx(3.0) and encoder.std_ == pytest.approx(np.std(values.to_numpy()))
    encoded = encoder.transform(values)
    assert encoded.dtype == np.float32 and encoded.mean() == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(encoder.inverse(torch.from_numpy(encoded)), torch.tensor([1.0, 2.0, 3.0, 6.0]))


def test_unscaled_regression_target_keeps_its_units() -> None:
    encoder = TargetEncoder("regression", scale=False).fit(pd.Series([5.0, 7.0]))
    assert encoder.transform(pd.Series([5.0, 7.0])).tolist() == [5.0, 7.0]


def test_constant_regression_target_divides_by_one() -> None:
    encoder = TargetEncoder("regression").fit(pd.Series([4.0, 4.0]))
    assert encoder.std_ == 1.0 and encoder.transform(pd.Series([5.0])).tolist() == [1.0]


def test_non_numeric_regression_target_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"holds the non-numeric value 'high' \(row 2\); regression needs numbers"):
        TargetEncoder("regression").fit(pd.Series(["1.5", "high"]))
