"""A seeded stratified hold-out: which rows of each class stay and which are held out.

:func:`stratified_holdout` draws the same rows, in the same order, as scikit-learn's
``train_test_split(rows, test_size=n_out, random_state=seed, stratify=labels)``, so that splits of
runs written before it (and their test sets) are unchanged; it only needs NumPy, so that training on
and evaluating a built-in dataset does not import scikit-learn and SciPy (about 1.4 s of CPU).

How rows are drawn, from one ``numpy.random.RandomState(seed)``:

1. each class gets a whole number of kept rows near its share of ``n_keep`` (and then of held-out
   rows near its share of ``n_out`` among the rows it has left): the floor of the share, plus one row
   for the classes with the largest fractional remainders, ties broken at random (:func:`_whole_shares`);
2. the rows of each class, in increasing order, are permuted, and the first go to the kept part, the
   next to the held-out part;
3. each part is permuted once more.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CannotStratify", "stratified_holdout"]


class CannotStratify(ValueError):
    """The rows cannot be split with every class on both sides (a class has one row, or a part has
    fewer rows than there are classes)."""


def stratified_holdout(labels: np.ndarray, n_out: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of kept and held-out rows, each class in the same proportion on both sides.

    Args:
        labels: class of each row, shape ``(n,)`` (integers or strings).
        n_out: rows to hold out, ``1 <= n_out < n``.
        seed: seed of the draws, in ``[0, 2**32)``.

    Returns:
        ``(kept, held)``: int64 positions into ``labels``, of lengths ``n - n_out`` and ``n_out``, in
        the (random) order of the draw.

    Raises:
        CannotStratify: a class has a single row, or a part would have fewer rows than there are classes.

    Example:
        >>> kept, held = stratified_holdout(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 4, seed=0)
        >>> sorted(np.array([0, 0, 0, 0, 1, 1, 1, 1])[held].tolist())
        [0, 0, 1, 1]
    """
    n = int(labels.shape[0])
    n_keep = n - n_out
    classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise CannotStratify(f"classes {classes[counts < 2].tolist()} have a single row")
    for part, size in (("kept", n_keep), ("held-out", n_out)):
        if size < classes.shape[0]:
            raise CannotStratify(f"{size} {part} rows cannot hold one row of each of {classes.shape[0]} classes")
    by_class = np.split(np.argsort(codes.reshape(-1), kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    keep_per_class = _whole_shares(counts, n_keep, rng)
    out_per_class = _whole_shares(counts - keep_per_class, n_out, rng)
    kept: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for rows, count, k, o in zip(by_class, counts, keep_per_class, out_per_class, strict=True):
        shuffled = rows[rng.permutation(count)]
        kept.append(shuffled[:k])
        held.append(shuffled[k : k + o])
    return (
        np.asarray(rng.permutation(np.concatenate(kept).astype(np.int64)), dtype=np.int64),
        np.asarray(rng.permutation(np.concatenate(held).astype(np.int64)), dtype=np.int64),
    )


def _whole_shares(counts: np.ndarray, total: int, rng: np.random.RandomState) -> np.ndarray:
    """Whole numbers of rows per class summing to ``total``, each near ``total`` times its class's share.

    Every class gets the floor of its share; the rows still missing go one each to the classes with
    the largest fractional remainders, largest first, choosing at random among equal remainders.
    """
    exact = counts / counts.sum() * total
    whole = np.floor(exact)
    missing = int(total - whole.sum())
    remainder = exact - whole
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        take = min(len(tied), missing)
        whole[rng.choice(tied, size=take, replace=False)] += 1
        missing -= take
    return np.asarray(whole, dtype=np.int64)
