"""Seeded train / validation / test split indices (a pure function: numbers in, index arrays out).

Sizes: ``n_test = round(test * n)`` and ``n_val = round(val * n)`` (halves round up), and training
gets the rest. Stratified splits use scikit-learn's ``StratifiedShuffleSplit`` (through
``train_test_split``), first carving off the test rows, then the validation rows from the remainder,
so every split's class proportions match the whole data's to within one row per class.

When stratification is impossible (a class with a single row, or a split with fewer rows than
there are classes), the split falls back to a plain random one and logs a warning instead of
failing: small data sets should still train.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from batchlab.errors import DataError

__all__ = ["split_indices", "split_sizes"]

logger = logging.getLogger(__name__)


def split_sizes(n: int, *, val: float, test: float) -> tuple[int, int, int]:
    """Rows in ``(train, val, test)`` for ``n`` rows and the given fractions.

    Raises:
        DataError: a split with a fraction > 0 would be empty, or no training rows are left.

    Example:
        >>> split_sizes(100, val=0.15, test=0.15)
        (70, 15, 15)
    """
    n_val = math.floor(val * n + 0.5)
    n_test = math.floor(test * n + 0.5)
    for name, fraction, size in (("val", val, n_val), ("test", test, n_test)):
        if fraction > 0 and size == 0:
            raise DataError(
                f"data.split.{name}: {fraction:g} of {n} rows is less than one row; use more data or "
                f"set data.split.{name}: 0"
            )
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"data.split: {n} rows leave no training rows after val={val:g} and test={test:g}; use more data"
        )
    return n_train, n_val, n_test


def split_indices(
    n: int, *, val: float, test: float, seed: int, stratify_labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint train, validation and test row indices that together cover ``0 .. n-1``.

    Args:
        n: number of rows.
        val: fraction of rows for validation, in [0, 1); 0 gives an empty array.
        test: fraction of rows for the test split, in [0, 1); 0 gives an empty array.
        seed: seed of the permutation; the same seed gives the same split. Taken modulo 2**32.
        stratify_labels: class label of each row, shape ``(n,)``, to keep class proportions in
            every split; ``None`` for a plain random split (regression).

    Returns:
        ``(train, val, test)``: sorted int64 index arrays of sizes given by :func:`split_sizes`.

    Raises:
        DataError: too few rows for the fractions (see :func:`split_sizes`).

    Example:
        >>> train, val, test = split_indices(10, val=0.2, test=0.2, seed=0, stratify_labels=None)
        >>> len(train), len(val), len(test), sorted([*train, *val, *test]) == list(range(10))
        (6, 2, 2, True)
    """
    n_train, n_val, n_test = split_sizes(n, val=val, test=test)
    seed = seed % 2**32
    if stratify_labels is not None and (n_val or n_test):
        stratified = _stratified(np.asarray(stratify_labels), n_val, n_test, seed)
        if stratified is not None:
            return stratified
    order = np.random.default_rng(seed).permutation(n)
    parts = np.split(order, [n_train, n_train + n_val])
    return _sorted(parts[0]), _sorted(parts[1]), _sorted(parts[2])


def _stratified(
    labels: np.ndarray, n_val: int, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Stratified split, or ``None`` (with a warning) when a class is too small to stratify."""
    from sklearn.model_selection import train_test_split  # heavy import, only when stratifying

    rows = np.arange(labels.shape[0])
    empty = np.empty(0, dtype=np.int64)
    try:
        rest, test_rows = (
            train_test_split(rows, test_size=n_test, random_state=seed, stratify=labels) if n_test else (rows, empty)
        )
        train, val_rows = (
            train_test_split(rest, test_size=n_val, random_state=(seed + 1) % 2**32, stratify=labels[rest])
            if n_val
            else (rest, empty)
        )
    except ValueError as exc:  # sklearn: "The least populated class in y has only 1 member", ...
        counts = np.unique(labels, return_counts=True)[1]
        logger.warning(
            "cannot stratify the split (%s; %d classes, smallest has %d rows); using a plain random split. "
            "Set data.split.stratify: false to silence this warning",
            str(exc).splitlines()[0].rstrip("."),
            counts.size,
            int(counts.min()),
        )
        return None
    return _sorted(train), _sorted(val_rows), _sorted(test_rows)


def _sorted(rows: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(rows)).astype(np.int64)
