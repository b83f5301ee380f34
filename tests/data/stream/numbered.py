"""Rows numbered by their label, stored every way a stream can read them (shared by the stream tests)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from batchlab.data.stream.rows import ArrayRows, MemmapRows, NpyRows, open_rows


def decode(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(b, d)`` float32 and the row number ``(b,)`` int64 of stored rows ``(b, d + 1)``."""
    rows = parts[0]
    return np.asarray(rows[:, :-1], dtype=np.float32), np.asarray(rows[:, -1], dtype=np.int64)


def numbered_table(n: int = 1000, d: int = 3, seed: int = 0) -> np.ndarray:
    """``n`` rows of ``d`` random features and, last, the row's number."""
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((n, d + 1)).astype(np.float32)
    table[:, -1] = np.arange(n)  # the "label" is the row number: batches show which rows they hold
    return table


def every_store(table: np.ndarray, folder: Path) -> dict[str, object]:
    """The same rows as an in-memory array, a .npy read by pread and by mmap, .npy and Parquet shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    np.save(folder / "all.npy", table)
    (folder / "npy").mkdir()
    (folder / "parquet").mkdir()
    cuts = [0, 137, 500, 501, len(table)]
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        np.save(folder / "npy" / f"part-{i}.npy", table[a:b])
        columns = {f"f{j}": table[a:b, j] for j in range(table.shape[1] - 1)} | {"label": table[a:b, -1]}
        pq.write_table(pa.table(columns), folder / "parquet" / f"part-{i}.parquet", row_group_size=64)
    return {
        "memory": ArrayRows(table),
        "pread": NpyRows(folder / "all.npy"),
        "mmap": MemmapRows(folder / "all.npy", release_every=3),
        "npy shards": open_rows(folder / "npy"),
        "parquet shards": open_rows(folder / "parquet"),
    }
