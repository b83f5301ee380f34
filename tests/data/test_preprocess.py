"""Tests of batchlab.data.preprocess (with its table encoder and array scaler)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from batchlab.data.preprocess import Preprocessor
from batchlab.data.sources import RawArrays, RawTable
from batchlab.errors import CheckpointError, DataError


def _table(**columns: list[object]) -> RawTable:
    return RawTable(pd.DataFrame(columns), "y")


def _fit(raw: RawTable | RawArrays, **settings: object) -> Preprocessor:
    return Preprocessor(**settings).fit(raw)  # type: ignore[arg-type]


def _x(pre: Preprocessor, raw: RawTable | RawArrays) -> np.ndarray:
    return pre.transform(raw, with_target=False)[0].numpy()


def _round_trip(pre: Preprocessor) -> Preprocessor:
    return Preprocessor.from_state(json.loads(json.dumps(pre.state_dict(), allow_nan=False)))


# ------------------------------------------------------------------------------------ numeric columns


def test_standard_scaling_uses_training_statistics_only() -> None:
    train = _table(a=[1.0, 2.0, 3.0, 4.0], y=[0, 1, 0, 1])
    test = _table(a=[100.0, 200.0], y=[0, 1])
    pre = _fit(train)
    state = pre.state_dict()["features"]["columns"][0]
    assert state["center"] == pytest.approx(2.5) and state["scale"] == pytest.approx(np.std([1, 2, 3, 4]))
    assert _x(pre, test)[:, 0] == pytest.approx((np.array([100.0, 200.0]) - 2.5) / np.std([1, 2, 3, 4]))


def test_minmax_maps_training_range_to_unit_interval() -> None:
    pre = _fit(_table(a=[2.0, 4.0, 6.0], y=[0, 1, 0]), scale="minmax")
    assert _x(pre, _table(a=[2.0, 6.0, 8.0], y=[0, 1, 0]))[:, 0].tolist() == [0.0, 1.0, 1.5]


def test_none_keeps_raw_values_and_constant_columns_divide_by_one() -> None:
    raw = _table(a=[2.0, 4.0], c=[7.0, 7.0], y=[0, 1])
    assert _x(_fit(raw, scale="none"), raw).tolist() == [[2.0, 7.0], [4.0, 7.0]]
    assert _x(_fit(raw), raw)[:, 1].tolist() == [0.0, 0.0]
    assert _x(_fit(raw, scale="minmax"), raw)[:, 1].tolist() == [0.0, 0.0]


def test_missing_and_infinite_numbers_take_the_training_median() -> None:
    train = _table(a=[1.0, 2.0, 10.0, np.nan, np.inf], y=[0, 1, 0, 1, 0])
    pre = _fit(train, scale="none")
    assert _x(pre, train)[:, 0].tolist() == [1.0, 2.0, 10.0, 2.0, 2.0]  # median of the finite 1, 2, 10
    other = _table(a=[np.nan, -np.inf], y=[0, 1])
    assert _x(pre, other)[:, 0].tolist() == [2.0, 2.0]


def test_missing_error_names_column_row_and_value() -> None:
    raw = _table(a=[1.0, 2.0, np.nan], y=[0, 1, 0])
    with pytest.raises(
        DataError, match=r"column 'a' holds a missing value \(nan\) at row 3 and data\.missing is 'error'"
    ):
        _fit(raw, missing="error")
    cats = _table(a=[1.0, 2.0, 3.0], c=["u", None, "v"], y=[0, 1, 0])
    with pytest.raises(DataError, match=r"column 'c' holds a missing value \(nan\) at row 2"):
        _fit(cats, missing="error")


def test_text_in_a_numeric_column_names_row_and_fix() -> None:
    ages = [str(20 + i) for i in range(30)]
    ages[16] = "abc"
    raw = _table(age=ages, y=[i % 2 for i in range(30)])
    message = (
        r"^data: column 'age' is numeric but row 17 holds 'abc'; "
        r"add it to data\.categorical or data\.missing_values$"
    )
    with pytest.raises(DataError, match=message):
        _fit(raw)
    with pytest.raises(DataError, match="row 1 holds 'x'"):
        _fit(_table(age=["x", "y"], y=[0, 1]), numeric=["age"])


def test_text_column_of_numbers_is_numeric() -> None:
    pre = _fit(_table(a=["1", "2", "3"], y=[0, 1, 0]), scale="none")
    assert pre.feature_names_ == ["a"] and _x(pre, _table(a=["5"], y=[0]))[:, 0].tolist() == [5.0]


# -------------------------------------------------------------------------------- categorical columns


def test_one_hot_uses_sorted_training_categories_and_is_not_scaled() -> None:
    pre = _fit(_table(n=[1.0, 2.0, 3.0], c=["red", "blue", "red"], y=[0, 1, 0]))
    assert pre.feature_names_ == ["n", "c=blue", "c=red"]
    assert _x(pre, _table(n=[2.0], c=["red"], y=[0]))[0, 1:].tolist() == [0.0, 1.0]


def test_unseen_category_gives_an_all_zero_block() -> None:
    pre = _fit(_table(c=["a", "b", "a"], d=["x", "y", "y"], y=[0, 1, 0]))
    x = _x(pre, _table(c=["zzz", "b"], d=["x", "x"], y=[0, 1]))
    assert x[0, :2].tolist() == [0.0, 0.0] and x[0, 2:].tolist() == [1.0, 0.0]
    assert x[1].tolist() == [0.0, 1.0, 1.0, 0.0]


def test_missing_category_takes_the_training_mode() -> None:
    pre = _fit(_table(c=["b", "a", "b", None], y=[0, 1, 0, 1]))
    assert _x(pre, _table(c=[None], y=[0])).tolist() == [[0.0, 1.0]]


def test_forced_categorical_numbers_are_one_hot() -> None:
    pre = _fit(_table(code=[10, 20, 10], y=[0, 1, 1]), categorical=["code"])
    assert pre.feature_names_ == ["code=10", "code=20"]
    assert _x(pre, _table(code=[20.0], y=[0])).tolist() == [[0.0, 1.0]]


def test_bool_and_text_columns_are_detected_categorical() -> None:
    pre = _fit(_table(flag=[True, False, True], word=["x", "y", "x"], n=[1, 2, 3], y=[0, 1, 0]))
    assert pre.feature_names_ == ["flag=False", "flag=True", "word=x", "word=y", "n"]


def test_forced_column_that_is_absent_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"data\.categorical: column 'cc' is not a feature column; did you mean \"c\""):
        _fit(_table(c=["a", "b"], y=[0, 1]), categorical=["cc"])


def test_training_column_missing_at_transform_is_a_data_error() -> None:
    pre = _fit(_table(a=[1.0, 2.0], b=[3.0, 4.0], y=[0, 1]))
    with pytest.raises(DataError, match="the input has no column 'b', which the model was trained on"):
        _x(pre, RawTable(pd.DataFrame({"a": [1.0]}), None))


# ------------------------------------------------------------------------------------------- target


def test_classification_target_becomes_int64_indices_of_sorted_classes() -> None:
    pre = _fit(_table(a=[1.0, 2.0, 3.0], y=["no", "yes", "no"]))
    x, y = pre.transform(_table(a=[1.0, 2.0], y=["yes", "no"]))
    assert pre.task_ == "classification" and pre.classes_ == ["no", "yes"]
    assert y is not None and y.dtype == torch.int64 and y.tolist() == [1, 0]
    assert x.dtype == torch.float32 and x.is_contiguous() and tuple(x.shape) == (2, 1)


def test_single_class_target_is_a_data_error() -> None:
    with pytest.raises(
        DataError, match=r"^data\.target: column 'y' has a single class 'a'; classification needs at least 2$"
    ):
        _fit(_table(x=[1, 2], y=["a", "a"]))


def test_unseen_class_at_transform_is_a_data_error() -> None:
    pre = _fit(_table(a=[1.0, 2.0], y=["no", "yes"]))
    with pytest.raises(DataError, match=r"holds 'maybe' .* a class not seen in training"):
        pre.transform(_table(a=[1.0], y=["maybe"]))


def test_rows_without_target_are_dropped_before_fitting(caplog: pytest.LogCaptureFixture) -> None:
    raw = _table(a=[1.0, 2.0, 1000.0, 3.0], y=[0.5, 1.5, np.nan, 2.5])
    with caplog.at_level(logging.WARNING, logger="batchlab.data.preprocess"):
        pre = _fit(raw)
    assert "1 of 4 rows of the training split have a missing target" in caplog.text
    assert pre.state_dict()["features"]["columns"][0]["center"] == pytest.approx(2.0)


def test_regression_target_is_scaled_and_inverted_to_original_units() -> None:
    raw = _table(a=[1.0, 2.0, 3.0, 4.0], y=[10.0, 20.0, 30.0, 45.5])
    pre = _fit(raw)
    _, y = pre.transform(raw)
    assert pre.task_ == "regression" and pre.classes_ is None
    assert y is not None and y.dtype == torch.float32 and float(y.mean()) == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(pre.inverse_target(y), torch.tensor([10.0, 20.0, 30.0, 45.5]))


def test_regression_on_text_target_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"regression needs numbers; set data\.task: classification"):
        _fit(_table(a=[1.0, 2.0], y=["low", "high"]), task="regression")


# ------------------------------------------------------------------------------------------- arrays


def test_uint8_images_are_divided_by_255() -> None:
    x = np.array([[[[0, 51]]], [[[102, 204]]]], dtype=np.uint8)  # max 204 < 255: still 255
    pre = _fit(RawArrays(x, np.array([0, 1]), True), scale="minmax")
    assert pre.is_image_ and pre.input_shape_ == (1, 1, 2)
    assert _x(pre, RawArrays(x, None, True)).ravel().tolist() == pytest.approx([0.0, 0.2, 0.4, 0.8])


def test_float_images_are_divided_by_training_max_or_one() -> None:
    counts = np.array([[[[0.0, 4.0]]], [[[8.0, 16.0]]]], dtype=np.float32)  # like digits: 0..16
    pre = _fit(RawArrays(counts, np.array([0, 1]), True), scale="minmax")
    assert pre.state_dict()["features"]["divisor"] == 16.0
    assert _x(pre, RawArrays(counts, None, True)).max() == 1.0
    unit = counts / 16
    assert _fit(RawArrays(unit, np.array([0, 1]), True)).state_dict()["features"]["divisor"] == 1.0


def test_standard_images_use_training_per_channel_statistics() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(20, 3, 4, 4), dtype=np.uint8)
    train[:, 2] //= 4
    pre = _fit(RawArrays(train, np.arange(20) % 2, True))
    center = np.array(pre.state_dict()["features"]["center"])
    spread = np.array(pre.state_dict()["features"]["scale_by"])
    scaled = train.astype(np.float64) / 255
    assert center.shape == (3,) and center == pytest.approx(scaled.mean(axis=(0, 2, 3)))
    assert spread == pytest.approx(scaled.std(axis=(0, 2, 3)))
    x = _x(pre, RawArrays(train, None, True))
    assert x.mean(axis=(0, 2, 3)) == pytest.approx(np.zeros(3), abs=1e-5)


def test_none_scale_keeps_raw_image_values() -> None:
    x = np.array([[[[3, 200]]], [[[0, 9]]]], dtype=np.uint8)
    pre = _fit(RawArrays(x, np.array([0, 1]), True), scale="none")
    assert _x(pre, RawArrays(x, None, True)).ravel().tolist() == [3.0, 200.0, 0.0, 9.0]


def test_image_shape_mismatch_is_a_data_error() -> None:
    # Arrays are never resized (data.image_size applies to image folders), so the message suggests nothing.
    pre = _fit(RawArrays(np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1]), True))
    with pytest.raises(DataError, match=r"images of shape 1x5x5 but the model was trained on 1x4x4$"):
        _x(pre, RawArrays(np.zeros((1, 1, 5, 5), np.uint8), None, True))


def test_vectors_are_scaled_per_feature_and_nan_imputed_with_training_median() -> None:
    x = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 30.0], [np.nan, 40.0]])
    pre = _fit(RawArrays(x, np.array([0, 1, 0, 1]), False), scale="none")
    assert _x(pre, RawArrays(x, None, False)).tolist() == [[1.0, 10.0], [3.0, 30.0], [5.0, 30.0], [3.0, 40.0]]
    with pytest.raises(DataError, match=r"missing value \(nan\) at row 2, feature 1"):
        _fit(RawArrays(x, np.array([0, 1, 0, 1]), False), missing="error")


def test_array_class_labels_are_integers_written_as_text() -> None:
    pre = _fit(RawArrays(np.zeros((4, 2)), np.array([7, 3, 7, 3]), False))
    assert pre.classes_ == ["3", "7"]
    assert pre.transform(RawArrays(np.zeros((1, 2)), np.array([7]), False))[1].tolist() == [1]  # type: ignore[union-attr]


def test_table_input_to_an_arrays_preprocessor_is_a_data_error() -> None:
    pre = _fit(RawArrays(np.zeros((2, 1)), np.array([0, 1]), False))
    with pytest.raises(DataError, match="the input is a table but the model was trained on arrays"):
        _x(pre, _table(a=[1.0], y=[0]))


# -------------------------------------------------------------------------------------------- state


@pytest.mark.parametrize("scale", ["standard", "minmax", "none"])
def test_table_state_round_trips_through_json(scale: str) -> None:
    train = _table(n=[1.0, np.nan, 3.0, 8.0], c=["a", "b", None, "a"], y=[1.5, 2.5, 3.0, 9.0])
    pre = _fit(train, scale=scale)
    back = _round_trip(pre)
    other = _table(n=[5.0, np.nan], c=["new", None], y=[2.0, 4.0])
    for raw in (train, other):
        x1, y1 = pre.transform(raw)
        x2, y2 = back.transform(raw)
        assert torch.equal(x1, x2) and y1 is not None and y2 is not None and torch.equal(y1, y2)
    assert back.task_ == pre.task_ and back.feature_names_ == pre.feature_names_
    assert torch.equal(back.inverse_target(torch.ones(3)), pre.inverse_target(torch.ones(3)))


@pytest.mark.parametrize("image", [True, False])
def test_array_state_round_trips_through_json(image: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 2, 3, 3) if image else (10, 5)).astype(np.float32)
    raw = RawArrays(x, np.arange(10) % 3, image)
    pre = _fit(raw)
    back = _round_trip(pre)
    assert torch.equal(pre.transform(raw)[0], back.transform(raw)[0])
    assert back.classes_ == ["0", "1", "2"] and back.is_image_ == image and back.input_shape_ == pre.input_shape_


def test_foreign_state_is_a_checkpoint_error() -> None:
    with pytest.raises(CheckpointError, match="preprocessor state has format 'other/9'"):
        Preprocessor.from_state({"format": "other/9"})
