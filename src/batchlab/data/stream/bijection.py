"""A seeded permutation of ``0 .. n-1`` computed position by position, in constant memory.

``torch.randperm(n)`` holds ``n`` indices (8 bytes each): 500 MB for 62.5M rows, which is what a
16 GB file of 64 float32 features holds. :class:`Bijection` instead maps any position to its row on
the fly with a keyed Feistel network over the smallest even number of bits that covers ``n``, and
"cycle walking" (re-applying the network until the value falls below ``n``), which keeps it a
bijection of ``[0, n)``. Six rounds of a 64-bit mixing function make the order indistinguishable from
a random permutation for training purposes (it is a pseudo-random permutation, not one drawn
uniformly from all ``n!``, like any permutation from a seeded generator). Every position maps to a
distinct row, so an epoch visits each row exactly once.

Example:
    >>> import numpy as np
    >>> perm = Bijection(10, seed=3)
    >>> rows = perm(np.arange(10))
    >>> sorted(rows.tolist()) == list(range(10)), bool(np.all(perm.inverse(rows) == np.arange(10)))
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Bijection"]

_ROUNDS = 6
_MASK64 = (1 << 64) - 1


def _mix(value: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 values (wrapping arithmetic)."""
    value = value ^ (value >> np.uint64(30))
    value = value * np.uint64(0xBF58476D1CE4E5B9)
    value = value ^ (value >> np.uint64(27))
    value = value * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = value ^ (value >> np.uint64(31))
    return mixed


class Bijection:
    """A seeded bijection of ``[0, n)``: position → row (:meth:`__call__`) and row → position.

    Args:
        n: size of the domain (rows); at least 1.
        seed: any integer; distinct seeds give unrelated orders.
    """

    def __init__(self, n: int, seed: int) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        bits = max(2, (n - 1).bit_length())
        self.half = (bits + 1) // 2  # bits per Feistel half; the network covers 4**half >= n values
        self.mask = np.uint64((1 << self.half) - 1)
        keys = []
        state = (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) & _MASK64
        for _ in range(_ROUNDS):
            state = (state + 0x9E3779B97F4A7C15) & _MASK64
            keys.append(int(_mix(np.array([state], dtype=np.uint64))[0]))
        self.keys = [np.uint64(k) for k in keys]

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Rows of ``positions`` (int64 in ``[0, n)``, any shape); int64, same shape."""
        return self._walk(positions, self._encrypt)

    def inverse(self, rows: np.ndarray) -> np.ndarray:
        """Positions of ``rows``: ``inverse(self(p)) == p``."""
        return self._walk(rows, self._decrypt)

    def _walk(self, values: np.ndarray, network: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        source = np.asarray(values, dtype=np.int64)
        if source.size and (source.min() < 0 or source.max() >= self.n):
            raise ValueError(f"values must lie in [0, {self.n})")
        out = network(source.astype(np.uint64))
        outside = out >= np.uint64(self.n)
        while outside.any():  # cycle walking: at most a few rounds, since 4**half < 4n
            out[outside] = network(out[outside])
            outside = out >= np.uint64(self.n)
        rows: np.ndarray = out.astype(np.int64)
        return rows

    def _round(self, half: np.ndarray, key: np.uint64) -> np.ndarray:
        return _mix(half ^ key) & self.mask

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        shift = np.uint64(self.half)
        left, right = x >> shift, x & self.mask
        for key in self.keys:
            left, right = right, left ^ self._round(right, key)
        return (left << shift) | right

    def _decrypt(self, y: np.ndarray) -> np.ndarray:
        shift = np.uint64(self.half)
        left, right = y >> shift, y & self.mask
        for key in reversed(self.keys):
            left, right = right ^ self._round(left, key), left
        return (left << shift) | right
