"""Seeded train / validation / test split indices (a pure function: numbers in, index arrays out).

Sizes: ``n_test = round(test * n)`` and ``n_val = round(val * n)`` (halves round up), and training
gets the rest. Stratified splits (:mod:`batchlab.data.stratify`, the same rows as scikit-learn's
``train_test_split``) first carve off the test rows, then the validation rows from the remainder,
so every split's class proportions match the whole data's to within one row per class.

A class with a single row cannot be stratified (it cannot be in every split, and a random
fallback may leave it out of training): that is an error naming the class. When a split has fewer
rows than there are classes, the split falls back to a random one that still keeps at least one
row of every class for training (a class the model never trains on could not be evaluated) and
logs a warning instead of failing: small data sets should still train.

Group splits (:func:`group_split_indices`, ``data.split.by_group``) keep every group (e.g. a
speaker) inside one split; :func:`group_folds` gives leave-one-group-out folds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from batchlab.data.stratify import CannotStratify, stratified_holdout
from batchlab.errors import DataError

__all__ = ["GroupFold", "group_folds", "group_split_indices", "split_indices", "split_sizes"]

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
        DataError: too few rows for the fractions (see :func:`split_sizes`); a class with a single
            row while stratifying; too few rows to keep a training row of every class while stratifying.

    Example:
        >>> train, val, test = split_indices(10, val=0.2, test=0.2, seed=0, stratify_labels=None)
        >>> len(train), len(val), len(test), sorted([*train, *val, *test]) == list(range(10))
        (6, 2, 2, True)
    """
    n_train, n_val, n_test = split_sizes(n, val=val, test=test)
    seed = seed % 2**32
    if stratify_labels is not None and (n_val or n_test):
        return _stratified(np.asarray(stratify_labels), n_val, n_test, seed)
    order = np.random.default_rng(seed).permutation(n)
    parts = np.split(order, [n_train, n_train + n_val])
    return _sorted(parts[0]), _sorted(parts[1]), _sorted(parts[2])


def _stratified(labels: np.ndarray, n_val: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified split; a random one keeping every class in training (with a warning) when a split is too small."""
    names, counts = np.unique(labels, return_counts=True)
    single = [str(name) for name in names[counts == 1]]
    if single:
        shown = ", ".join(f"'{name}'" for name in single[:3]) + (", ..." if len(single) > 3 else "")
        which = f"class {shown} has" if len(single) == 1 else f"{len(single)} classes ({shown}) have"
        raise DataError(
            f"data.split.stratify: {which} a single row, which a stratified split cannot place in every split; "
            "add rows of it, remove it, or set data.split.stratify: false"
        )
    rows = np.arange(labels.shape[0])
    empty = np.empty(0, dtype=np.int64)
    try:
        rest, test_rows = rows, empty
        if n_test:
            rest, test_rows = stratified_holdout(labels, n_test, seed)
        train, val_rows = rest, empty
        if n_val:
            kept, held = stratified_holdout(labels[rest], n_val, (seed + 1) % 2**32)
            train, val_rows = rest[kept], rest[held]
    except CannotStratify as exc:  # e.g. fewer held-out rows than classes
        logger.warning(
            "cannot stratify the split (%s; %d classes, smallest has %d rows); using a random split that keeps "
            "every class in training. Set data.split.stratify: false to silence this warning",
            str(exc).splitlines()[0].rstrip("."),
            counts.size,
            int(counts.min()),
        )
        return _random_keeping_classes(labels, n_val, n_test, seed)
    return _sorted(train), _sorted(val_rows), _sorted(test_rows)


def _random_keeping_classes(
    labels: np.ndarray, n_val: int, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out rows drawn in a seeded random order, skipping any row that is the last of its class.

    Raises:
        DataError: there are too few rows to hold ``n_val + n_test`` out and keep a row of every class.
    """
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
    left = np.bincount(codes)
    wanted = n_val + n_test
    if labels.shape[0] - left.size < wanted:
        raise DataError(
            f"data.split: {labels.shape[0]} rows of {left.size} classes cannot hold out {wanted} rows for "
            "validation and test and keep a training row of every class; use more data or smaller "
            "data.split.val / data.split.test"
        )
    held: list[int] = []
    for row in np.random.default_rng(seed).permutation(labels.shape[0]):
        if len(held) == wanted:
            break
        if left[codes[row]] > 1:
            left[codes[row]] -= 1
            held.append(int(row))
    chosen = np.asarray(held, dtype=np.int64)
    train = np.setdiff1d(np.arange(labels.shape[0]), chosen)
    return _sorted(train), _sorted(chosen[n_test:]), _sorted(chosen[:n_test])


def _sorted(rows: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(rows)).astype(np.int64)


def group_split_indices(
    groups: Sequence[str] | np.ndarray, *, val: float, test: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test row indices in which no group appears in two splits.

    The fractions apply to the number of groups, not of rows: with ``G`` distinct groups, the test
    split gets ``round(test * G)`` groups and validation ``round(val * G)`` (halves round up), at
    least one each when its fraction is > 0, and training the rest (at least one; the larger of
    the two held-out splits gives a group back when needed). Which groups go where is a seeded
    permutation of the sorted group names: test takes the first, validation the next. Row counts
    follow the groups' sizes, so they match the fractions only when groups are of similar size.
    Class proportions are not stratified.

    Args:
        groups: the group of each row, shape ``(n,)`` (e.g. speaker names).
        val: fraction of groups for validation, in [0, 1); 0 gives an empty array.
        test: fraction of groups for the test split, in [0, 1); 0 gives an empty array.
        seed: seed of the permutation of groups, taken modulo 2**32.

    Returns:
        ``(train, val, test)``: sorted int64 row indices, disjoint and covering ``0 .. n-1``.

    Raises:
        DataError: fewer groups than non-empty splits.

    Example:
        >>> groups = ["ann", "ann", "bob", "cy", "cy", "dee"]
        >>> train, val, test = group_split_indices(groups, val=0.25, test=0.25, seed=0)
        >>> sorted({groups[i] for i in test} | {groups[i] for i in val} | {groups[i] for i in train})
        ['ann', 'bob', 'cy', 'dee']
    """
    codes, names = _group_codes(groups)
    wanted = 1 + (val > 0) + (test > 0)
    if len(names) < wanted:
        parts = ", ".join(["train", *(["val"] if val > 0 else []), *(["test"] if test > 0 else [])])
        raise DataError(
            f"data.split.by_group: {len(names)} group{'s' if len(names) != 1 else ''} cannot fill {wanted} "
            f"non-empty splits ({parts}), since a group stays in one split; use data with at least {wanted} "
            "groups, set data.split.val or data.split.test to 0, or set data.split.by_group: false"
        )
    count = len(names)
    n_test = max(int(test > 0), math.floor(test * count + 0.5))
    n_val = max(int(val > 0), math.floor(val * count + 0.5))
    while count - n_val - n_test < 1:  # give groups back to training, from the larger held-out split
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    order = np.random.default_rng(seed % 2**32).permutation(count)
    test_groups, val_groups = order[:n_test], order[n_test : n_test + n_val]
    in_test, in_val = np.isin(codes, test_groups), np.isin(codes, val_groups)
    return (
        np.flatnonzero(~(in_test | in_val)).astype(np.int64),
        np.flatnonzero(in_val).astype(np.int64),
        np.flatnonzero(in_test).astype(np.int64),
    )


@dataclass(frozen=True)
class GroupFold:
    """One leave-one-group-out fold.

    Attributes:
        group: the held-out group.
        train: sorted int64 indices of the rows of every other group.
        test: sorted int64 indices of the held-out group's rows.
    """

    group: str
    train: np.ndarray
    test: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        """Unpack as ``train, test = fold``."""
        return iter((self.train, self.test))


def group_folds(groups: Sequence[str] | np.ndarray) -> list[GroupFold]:
    """Leave-one-group-out folds: each group in turn is the test set (e.g. leave-one-speaker-out).

    Args:
        groups: the group of each row, shape ``(n,)``.

    Returns:
        One :class:`GroupFold` per distinct group, in sorted group order.

    Raises:
        DataError: fewer than two groups.

    Example:
        >>> [(f.group, f.test.tolist(), f.train.tolist()) for f in group_folds(["b", "a", "b"])]
        [('a', [1], [0, 2]), ('b', [0, 2], [1])]
    """
    codes, names = _group_codes(groups)
    if len(names) < 2:
        raise DataError(f"leave-one-group-out folds need at least 2 groups; the data has {len(names)}")
    return [
        GroupFold(str(name), np.flatnonzero(codes != k).astype(np.int64), np.flatnonzero(codes == k).astype(np.int64))
        for k, name in enumerate(names)
    ]


def _group_codes(groups: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, names)``: each row's index into the sorted distinct group names."""
    names, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    return codes.reshape(-1), names
