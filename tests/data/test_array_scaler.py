"""ArrayScaler on large vector arrays: block-wise fitting in bounded memory, in-place transforms."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from batchlab.data import array_scaler
from batchlab.data.array_scaler import ArrayScaler


def _vectors(rows: int, features: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    # Far from zero with a small spread: a variance from raw sums of squares would lose digits here.
    x = (1e4 + rng.standard_normal((rows, features)) * np.linspace(0.5, 3.0, features)).astype(np.float32)
    x[rng.integers(0, rows, 50), rng.integers(0, features, 50)] = np.nan
    x[3, 2] = np.inf
    return x


@pytest.mark.parametrize("scale", ["standard", "minmax", "none"])
def test_block_fit_matches_the_exact_fit(monkeypatch: pytest.MonkeyPatch, scale: str) -> None:
    x = _vectors(20_000)  # fewer rows than the median sample: the sample is every row
    exact = ArrayScaler(scale=scale).fit(x, image=False)
    monkeypatch.setattr(array_scaler, "_EXACT_VALUES", 0)
    monkeypatch.setattr(array_scaler, "_BLOCK_VALUES", 4096)  # many blocks
    blocks = ArrayScaler(scale=scale).fit(x, image=False)
    np.testing.assert_array_equal(blocks.fill_, exact.fill_)
    np.testing.assert_allclose(blocks.center_, exact.center_, rtol=1e-12)
    np.testing.assert_allclose(blocks.scale_, exact.scale_, rtol=1e-9)


def test_block_fit_takes_less_memory_than_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _vectors(400_000)  # 25.6 MB of float32; a float64 copy alone would be twice that
    monkeypatch.setattr(array_scaler, "_EXACT_VALUES", 0)
    tracemalloc.start()
    try:
        scaler = ArrayScaler(scale="standard").fit(x, image=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes, f"fitting used {peak / 1e6:.1f} MB for {x.nbytes / 1e6:.1f} MB of data"
    finite = np.where(np.isfinite(x), x, np.nan).astype(np.float64)
    np.testing.assert_allclose(scaler.fill_, np.nanmedian(finite, axis=0), atol=0.05)  # sampled median
    np.testing.assert_allclose(scaler.scale_, np.nanstd(finite, axis=0), rtol=1e-3)


def test_in_place_transform_reuses_the_array_and_the_default_copies() -> None:
    x = _vectors(1_000)
    scaler = ArrayScaler(scale="standard").fit(x, image=False)
    original = x.copy()
    copied = scaler.transform(x)
    np.testing.assert_array_equal(x, original)  # the caller's array is untouched
    scaled = scaler.transform(x, in_place=True)
    assert np.shares_memory(scaled, x)
    np.testing.assert_array_equal(scaled, copied)
    assert np.isfinite(scaled).all()
    read_only = original.copy()
    read_only.flags.writeable = False
    assert not np.shares_memory(scaler.transform(read_only, in_place=True), read_only)
