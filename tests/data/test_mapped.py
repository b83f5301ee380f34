"""Rows copied out of a mapped .npy file: the same values as fancy indexing, without keeping the file resident."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from batchlab.data.arrays import read_npy
from batchlab.data.mapped import column, is_mapped, map_npy, take_rows


@pytest.fixture
def table(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(0).standard_normal((5000, 7)).astype(np.float32)
    path = tmp_path / "rows.npy"
    np.save(path, data)
    return path, data


@pytest.mark.parametrize("order", ["sorted", "shuffled", "repeated"])
def test_take_rows_of_a_map_equals_fancy_indexing(table: tuple[Path, np.ndarray], order: str) -> None:
    path, data = table
    mapped = map_npy(path)
    assert mapped is not None and is_mapped(mapped) and not mapped.flags.writeable
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(5000, 1200, replace=False))
    if order == "shuffled":
        rows = rng.permutation(rows)
    if order == "repeated":
        rows = np.concatenate([rows, rows[:10]])
    features = mapped[:, :-1]  # a view of the map, as a source's features are
    out = take_rows(features, rows)
    np.testing.assert_array_equal(out, data[:, :-1][rows])
    assert out.flags.c_contiguous and out.flags.writeable and not is_mapped(out)
    np.testing.assert_array_equal(column(mapped, -1), data[:, -1])


def test_files_that_cannot_be_mapped_are_loaded(tmp_path: Path) -> None:
    data = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    path = tmp_path / "fortran.npy"
    np.save(path, data)
    assert map_npy(path) is None
    loaded = read_npy(path, field="data.source", mapped=True)
    np.testing.assert_array_equal(loaded, data)


def _rss_file_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    pytest.skip("no RssFile in /proc/self/status")


def test_copying_out_of_a_map_releases_its_pages(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    rows, width = 96 * 2**20 // (4 * 64), 64  # 96 MiB
    np.save(path, np.ones((rows, width), dtype=np.float32))
    mapped = map_npy(path)
    assert mapped is not None
    before = _rss_file_kib()
    out = take_rows(mapped, np.arange(0, rows, 2))
    labels = column(mapped, 0)
    grown_mib = (_rss_file_kib() - before) / 1024
    assert out.shape == (rows // 2, width) and float(labels.sum()) == rows
    # without releasing, all 96 MiB of the file would now be resident in this process
    assert grown_mib < 24, f"{grown_mib:.0f} MiB of the mapped file stayed resident"
