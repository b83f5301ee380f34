"""The NumPy stratified hold-out draws exactly the rows (and order) of scikit-learn's train_test_split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from batchlab.data.stratify import CannotStratify, stratified_holdout


def _cases() -> list[tuple[np.ndarray, int, int]]:
    rng = np.random.default_rng(1)
    cases = []
    for case in range(40):
        classes = int(rng.integers(2, 12))
        counts = rng.integers(2, 30, size=classes)
        labels = np.repeat(np.arange(classes), counts)
        rng.shuffle(labels)
        if case % 3 == 0:
            labels = np.array([f"c{v}" for v in labels], dtype=object)  # class names, as from a CSV
        n = labels.shape[0]
        n_out = int(rng.integers(classes, n - classes + 1))
        cases.append((labels, n_out, int(rng.integers(0, 2**32))))
    return cases


@pytest.mark.parametrize(("labels", "n_out", "seed"), _cases())
def test_same_rows_in_the_same_order_as_scikit_learn(labels: np.ndarray, n_out: int, seed: int) -> None:
    rows = np.arange(labels.shape[0])
    want_kept, want_held = train_test_split(rows, test_size=n_out, random_state=seed, stratify=labels)
    kept, held = stratified_holdout(labels, n_out, seed)
    assert kept.dtype == np.int64 and held.dtype == np.int64
    np.testing.assert_array_equal(kept, want_kept)
    np.testing.assert_array_equal(held, want_held)


def test_the_digits_split_of_existing_runs_is_unchanged() -> None:
    from sklearn.datasets import load_digits

    labels = load_digits().target
    rest, test = train_test_split(np.arange(labels.shape[0]), test_size=270, random_state=0, stratify=labels)
    kept, held = stratified_holdout(labels, 270, 0)
    np.testing.assert_array_equal(held, test)
    np.testing.assert_array_equal(kept, rest)


@pytest.mark.parametrize(
    ("labels", "n_out", "message"),
    [
        (np.array([0, 0, 0, 1]), 2, "single row"),
        (np.repeat(np.arange(5), 4), 2, "2 held-out rows cannot hold one row of each of 5 classes"),
        (np.repeat(np.arange(5), 4), 17, "3 kept rows cannot hold one row of each of 5 classes"),
    ],
)
def test_impossible_stratifications_are_refused(labels: np.ndarray, n_out: int, message: str) -> None:
    with pytest.raises(CannotStratify, match=message):
        stratified_holdout(labels, n_out, 0)
