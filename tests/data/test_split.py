"""Tests of batchlab.data.split: sizes, coverage, seeding and stratification."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchlab.data.split import group_folds, group_split_indices, split_indices, split_sizes
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


def test_a_class_with_one_row_under_a_stratified_split_is_an_error_naming_it() -> None:
    labels = np.array(["a"] * 20 + ["b"] * 19 + ["rare"])
    with pytest.raises(DataError) as info:
        split_indices(40, val=0.2, test=0.2, seed=0, stratify_labels=labels)
    assert str(info.value) == (
        "data.split.stratify: class 'rare' has a single row, which a stratified split cannot place in every "
        "split; add rows of it, remove it, or set data.split.stratify: false"
    )
    # without stratification, or without held-out splits, the same labels split fine
    _check_partition(40, split_indices(40, val=0.2, test=0.2, seed=0, stratify_labels=None))
    _check_partition(40, split_indices(40, val=0.0, test=0.0, seed=0, stratify_labels=labels))


def test_several_single_row_classes_are_counted_and_named() -> None:
    labels = np.array(["a"] * 20 + ["x", "y"])
    with pytest.raises(DataError, match=r"2 classes \('x', 'y'\) have a single row"):
        split_indices(22, val=0.0, test=0.2, seed=0, stratify_labels=labels)


def test_stratification_falls_back_with_a_warning_when_a_split_is_smaller_than_the_classes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    labels = np.repeat(np.array(["a", "b", "c", "d", "e"]), 4)  # test=0.1 of 20 rows is 2 rows for 5 classes
    with caplog.at_level(logging.WARNING, logger="batchlab.data.split"):
        parts = split_indices(20, val=0.0, test=0.1, seed=0, stratify_labels=labels)
    _check_partition(20, parts)
    assert "cannot stratify" in caplog.text and "data.split.stratify: false" in caplog.text


@pytest.mark.parametrize("seed", range(20))
def test_the_fallback_split_keeps_every_class_in_training(seed: int) -> None:
    # 10 classes of 2 rows, 8 held out: a plain random split leaves some class out of training for most
    # seeds, and then its validation or test rows cannot be encoded (a class unseen in training)
    labels = np.repeat(np.arange(10), 2)
    train, val, test = split_indices(20, val=0.2, test=0.2, seed=seed, stratify_labels=labels)
    _check_partition(20, (train, val, test))
    assert len(val) == len(test) == 4
    assert set(labels[train]) == set(range(10))


def test_the_fallback_split_names_too_few_rows_to_keep_every_class() -> None:
    labels = np.repeat(np.arange(5), 2)  # 10 rows, 5 classes: at most 5 rows can be held out
    with pytest.raises(DataError, match=r"data\.split: 10 rows of 5 classes cannot hold out 6 rows"):
        split_indices(10, val=0.3, test=0.3, seed=0, stratify_labels=labels)


# ------------------------------------------------------------------------------------------- groups


def _speakers(counts: dict[str, int]) -> np.ndarray:
    groups = np.repeat(np.array(list(counts)), list(counts.values()))
    np.random.default_rng(1).shuffle(groups)
    return groups


@settings(max_examples=40, deadline=None)
@given(
    n_groups=st.integers(min_value=3, max_value=12),
    val=st.sampled_from([0.0, 0.1, 0.2, 0.34]),
    test=st.sampled_from([0.1, 0.15, 0.3]),
    seed=st.integers(min_value=0, max_value=2**40),
)
def test_group_split_puts_no_group_in_two_splits(n_groups: int, val: float, test: float, seed: int) -> None:
    groups = _speakers({f"g{k}": 3 + k % 4 for k in range(n_groups)})
    parts = group_split_indices(groups, val=val, test=test, seed=seed)
    _check_partition(len(groups), parts)
    sets = [set(groups[p]) for p in parts]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sets[0] and (bool(sets[1]) == (val > 0)) and sets[2]


def test_group_split_fractions_count_groups() -> None:
    groups = _speakers({"george": 450, "jackson": 450, "lucas": 450, "nicolas": 450, "theo": 450, "yw": 450})
    train, val, test = group_split_indices(groups, val=0.15, test=0.15, seed=0)
    # 0.15 * 6 = 0.9 rounds to one speaker each; four train
    assert (len(set(groups[train])), len(set(groups[val])), len(set(groups[test]))) == (4, 1, 1)
    assert (len(train), len(val), len(test)) == (1800, 450, 450)
    # a fraction rounding to 0 groups still gets one; training keeps at least one
    three = _speakers({"a": 5, "b": 5, "c": 5})
    assert [len(set(three[p])) for p in group_split_indices(three, val=0.1, test=0.1, seed=0)] == [1, 1, 1]
    four = _speakers({"a": 5, "b": 5, "c": 5, "d": 5})
    assert [len(set(four[p])) for p in group_split_indices(four, val=0.4, test=0.4, seed=0)] == [1, 1, 2]


def test_group_split_is_seeded() -> None:
    groups = _speakers({f"s{k}": 10 for k in range(10)})
    first = group_split_indices(groups, val=0.2, test=0.2, seed=3)
    again = group_split_indices(groups, val=0.2, test=0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    others = [set(groups[group_split_indices(groups, val=0.2, test=0.2, seed=s)[2]]) for s in range(5)]
    assert len({frozenset(o) for o in others}) > 1


def test_group_split_with_fewer_groups_than_splits_is_an_error_naming_the_counts() -> None:
    groups = np.array(["a", "a", "b", "b"])
    with pytest.raises(DataError) as info:
        group_split_indices(groups, val=0.2, test=0.2, seed=0)
    message = str(info.value)
    assert message.startswith("data.split.by_group: 2 groups cannot fill 3 non-empty splits (train, val, test)")
    assert "\n" not in message
    train, val, test = group_split_indices(groups, val=0.0, test=0.2, seed=0)  # two splits fit
    assert val.size == 0 and set(groups[train]) != set(groups[test])


def test_group_folds_hold_out_each_group_once() -> None:
    groups = _speakers({"ann": 4, "bob": 2, "cy": 3})
    folds = group_folds(groups)
    assert [fold.group for fold in folds] == ["ann", "bob", "cy"]
    for fold in folds:
        train, test = fold
        _check_partition(len(groups), (train, test, np.empty(0, dtype=np.int64)))
        assert set(groups[test]) == {fold.group} and fold.group not in set(groups[train])
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(9))
    with pytest.raises(DataError, match="at least 2 groups"):
        group_folds(["only"] * 3)
