"""Tests of batchlab.data.split: sizes, coverage, seeding and stratification."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchlab.data.split import split_indices, split_sizes
from batchlab.errors import DataError


def _check_partition(n: int, parts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    joined = np.concatenate(parts)
    assert len(joined) == n
    assert np.array_equal(np.sort(joined), np.arange(n)), "splits must be disjoint and cover 0..n-1"
    for part in parts:
        assert part.dtype == np.int64


@pytest.mark.parametrize(
    ("n", "val", "test", "expected"),
    [
        (100, 0.15, 0.15, (70, 15, 15)),
        (10, 0.25, 0.0, (7, 3, 0)),
        (7, 0.0, 0.0, (7, 0, 0)),
        (3, 0.2, 0.2, (1, 1, 1)),
    ],
)
def test_split_sizes_round_half_up(n: int, val: float, test: float, expected: tuple[int, int, int]) -> None:
    assert split_sizes(n, val=val, test=test) == expected


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=10, max_value=400),
    val=st.sampled_from([0.0, 0.1, 0.15, 0.3]),
    test=st.sampled_from([0.0, 0.1, 0.2]),
    seed=st.integers(min_value=-5, max_value=2**40),
)
def test_random_splits_are_disjoint_covering_and_sized(n: int, val: float, test: float, seed: int) -> None:
    parts = split_indices(n, val=val, test=test, seed=seed, stratify_labels=None)
    _check_partition(n, parts)
    assert tuple(len(p) for p in parts) == split_sizes(n, val=val, test=test)


def test_stratified_splits_are_disjoint_and_covering() -> None:
    labels = np.repeat(["a", "b", "c"], [50, 30, 20])
    _check_partition(100, split_indices(100, val=0.2, test=0.1, seed=3, stratify_labels=labels))


def test_same_seed_gives_same_split_and_other_seed_another() -> None:
    for labels in (None, np.tile([0, 1], 100)):
        first = split_indices(200, val=0.2, test=0.2, seed=7, stratify_labels=labels)
        again = split_indices(200, val=0.2, test=0.2, seed=7, stratify_labels=labels)
        other = split_indices(200, val=0.2, test=0.2, seed=8, stratify_labels=labels)
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
        assert not np.array_equal(first[2], other[2])


def test_stratified_split_keeps_class_proportions() -> None:
    labels = np.repeat(np.array(["x", "y", "z"]), [600, 300, 100])
    np.random.default_rng(0).shuffle(labels)
    parts = split_indices(len(labels), val=0.2, test=0.15, seed=0, stratify_labels=labels)
    for part in parts:
        for name, overall in (("x", 0.6), ("y", 0.3), ("z", 0.1)):
            assert abs(np.mean(labels[part] == name) - overall) < 0.01


def test_unstratified_split_of_imbalanced_labels_is_not_exactly_proportional() -> None:
    # a sanity check that the stratified test above can fail: plain random splits drift
    labels = np.repeat(np.array(["x", "z"]), [900, 100])
    drifts = []
    for seed in range(5):
        test = split_indices(1000, val=0.0, test=0.1, seed=seed, stratify_labels=None)[2]
        drifts.append(abs(np.mean(labels[test] == "z") - 0.1))
    assert max(drifts) > 0.005


def test_zero_fraction_gives_empty_split() -> None:
    train, val, test = split_indices(50, val=0.0, test=0.2, seed=0, stratify_labels=np.arange(50) % 2)
    assert val.size == 0 and len(test) == 10 and len(train) == 40


def test_too_few_rows_for_a_fraction_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"data\.split\.val: 0\.1 of 4 rows is less than one row"):
        split_indices(4, val=0.1, test=0.0, seed=0, stratify_labels=None)


def test_no_training_rows_left_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no training rows"):
        split_sizes(2, val=0.5, test=0.4)


def test_stratification_falls_back_with_a_warning_when_a_class_has_one_row(
    caplog: pytest.LogCaptureFixture,
) -> None:
    labels = np.array(["a"] * 20 + ["b"] * 19 + ["rare"])
    with caplog.at_level(logging.WARNING, logger="batchlab.data.split"):
        parts = split_indices(40, val=0.2, test=0.2, seed=0, stratify_labels=labels)
    _check_partition(40, parts)
    assert "cannot stratify" in caplog.text and "data.split.stratify: false" in caplog.text
