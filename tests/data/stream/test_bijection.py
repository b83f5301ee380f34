"""The exact shuffle's permutation: seeded, a bijection of [0, n), with an inverse."""

from __future__ import annotations

import numpy as np
import pytest

from batchlab.data.stream.bijection import Bijection


def test_the_bijection_is_a_seeded_permutation_with_an_inverse() -> None:
    for n in (1, 2, 5, 64, 1000, 4099):
        perm = Bijection(n, seed=11)
        rows = perm(np.arange(n))
        assert sorted(rows.tolist()) == list(range(n))
        assert np.array_equal(perm.inverse(rows), np.arange(n))
    assert not np.array_equal(Bijection(1000, 1)(np.arange(1000)), Bijection(1000, 2)(np.arange(1000)))
    big = Bijection(10**9, seed=0)(np.arange(5))
    assert big.max() < 10**9 and len(set(big.tolist())) == 5
    with pytest.raises(ValueError):
        Bijection(10, 0)(np.array([10]))
