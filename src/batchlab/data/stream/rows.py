"""Row stores: numbered rows of one array, read a few at a time from memory, a file or shards.

Every store has ``num_rows``, ``row_shape`` and ``dtype``, :meth:`~RowStore.read` (rows at sorted
indices) and :meth:`~RowStore.read_range` (consecutive rows), and counts what it read, so tests can
check that iteration does not load the whole file:

* :class:`ArrayRows`: an array already in memory (the reference the others must match);
* :class:`NpyRows`: a ``.npy`` file read with positional reads (``os.pread``): one system call per
  requested row, or one per block for a range. No page of the file is mapped, so the process's
  resident memory does not grow with what it reads (the OS page cache, shared and reclaimable, is
  not part of the process);
* :class:`MemmapRows`: a ``.npy`` file through a memory map, whose pages count toward the process's
  resident memory once touched; it asks for no read-around (``MADV_RANDOM``) and releases every
  mapped page (``MADV_DONTNEED``) after each read (or every ``release_every`` reads), which bounds
  the growth. A touched row may map more than its page: recent kernels map whole large folios of
  the page cache (up to 2 MiB), and a release walks the page tables of the whole map (about 0.5 ms
  per GiB of file), so for large files positional reads are the better default;
* :class:`ParquetRows`: a Parquet file, decoded one row group at a time (the last few kept);
* :class:`ShardRows`: a folder of ``.npy`` or Parquet shards seen as one array (shards in name order).
"""

from __future__ import annotations

import bisect
import mmap
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from batchlab.errors import DataError

__all__ = ["ArrayRows", "MemmapRows", "NpyRows", "ParquetRows", "RowStore", "ShardRows", "open_rows"]


class RowStore(Protocol):
    """Numbered rows of one array of shape ``(num_rows, *row_shape)``."""

    num_rows: int
    row_shape: tuple[int, ...]
    dtype: np.dtype[Any]
    reads: int
    rows_read: int

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows at ``rows`` (int64, sorted ascending, in range): ``(len(rows), *row_shape)``."""
        ...

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start .. stop - 1``: ``(stop - start, *row_shape)``."""
        ...

    def close(self) -> None:
        """Release files and maps (reading after this is an error)."""
        ...


class ArrayRows:
    """Rows of an in-memory array (the reference: the on-disk stores give the same rows).

    Args:
        array: shape ``(n, *row_shape)``.
    """

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.num_rows = int(array.shape[0])
        self.row_shape = tuple(int(s) for s in array.shape[1:])
        self.dtype = array.dtype
        self.reads = 0
        self.rows_read = 0

    def read(self, rows: np.ndarray) -> np.ndarray:
        self.reads += 1
        self.rows_read += len(rows)
        return np.take(self.array, rows, axis=0)

    def read_range(self, start: int, stop: int) -> np.ndarray:
        self.reads += 1
        self.rows_read += stop - start
        return np.array(self.array[start:stop])

    def close(self) -> None:
        pass


class _NpyFile:
    """Header facts of a C-ordered ``.npy`` file: where the data starts, row shape and dtype."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0
                if version != (1, 0):
                    read_header = np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(handle)
                self.offset = handle.tell()
        except (OSError, ValueError) as exc:
            raise DataError(f"data.source: '{path}' cannot be read as .npy ({exc})") from None
        if fortran or dtype.hasobject or not shape:
            raise DataError(f"data.source: '{path}' must hold a C-ordered numeric array with rows (shape {shape})")
        self.num_rows = int(shape[0])
        self.row_shape = tuple(int(s) for s in shape[1:])
        self.dtype = dtype
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * dtype.itemsize


class NpyRows:
    """Rows of a ``.npy`` file, read with positional reads into fresh buffers.

    Args:
        path: a C-ordered ``.npy`` file of shape ``(n, *row_shape)``.
        random_access: tell the kernel not to read ahead (``POSIX_FADV_RANDOM``), which helps the
            exact shuffle's scattered reads from a cold disk; ``False`` for sequential reading.
    """

    def __init__(self, path: str | Path, *, random_access: bool = True) -> None:
        header = _NpyFile(path)
        self.path = header.path
        self.num_rows, self.row_shape, self.dtype = header.num_rows, header.row_shape, header.dtype
        self._offset, self._row_bytes = header.offset, header.row_bytes
        self._fd = os.open(self.path, os.O_RDONLY)
        if random_access and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)
        self.reads = 0
        self.rows_read = 0

    def read(self, rows: np.ndarray) -> np.ndarray:
        size, offset, fd = self._row_bytes, self._offset, self._fd
        data = b"".join([os.pread(fd, size, offset + row * size) for row in rows.tolist()])
        self.reads += len(rows)
        self.rows_read += len(rows)
        return self._array(data, len(rows))

    def read_range(self, start: int, stop: int) -> np.ndarray:
        data = os.pread(self._fd, (stop - start) * self._row_bytes, self._offset + start * self._row_bytes)
        self.reads += 1
        self.rows_read += stop - start
        return self._array(data, stop - start)

    def _array(self, data: bytes, count: int) -> np.ndarray:
        if len(data) != count * self._row_bytes:
            raise DataError(f"data.source: '{self.path}' is shorter than its header says (truncated file?)")
        return np.frombuffer(data, dtype=self.dtype).reshape(count, *self.row_shape)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class MemmapRows:
    """Rows of a ``.npy`` file through a read-only memory map whose pages are released as it goes.

    Args:
        path: a C-ordered ``.npy`` file of shape ``(n, *row_shape)``.
        release_every: reads between two releases of every mapped page (``MADV_DONTNEED``); the
            resident memory the map adds stays below about ``release_every`` reads' worth of mapped
            pages (or folios).
    """

    def __init__(self, path: str | Path, *, release_every: int = 1) -> None:
        header = _NpyFile(path)
        self.path = header.path
        self.num_rows, self.row_shape, self.dtype = header.num_rows, header.row_shape, header.dtype
        self.release_every = release_every
        with open(self.path, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_RANDOM"):
            self._map.madvise(mmap.MADV_RANDOM)  # map one page per fault, not a window around it
        count = header.num_rows * max(1, int(np.prod(self.row_shape, dtype=np.int64)))
        self._array = np.frombuffer(self._map, dtype=self.dtype, count=count, offset=header.offset).reshape(
            header.num_rows, *self.row_shape
        )
        self.reads = 0
        self.rows_read = 0

    def read(self, rows: np.ndarray) -> np.ndarray:
        out = np.take(self._array, rows, axis=0)
        self._count(len(rows))
        return out

    def read_range(self, start: int, stop: int) -> np.ndarray:
        out = np.array(self._array[start:stop])
        self._count(stop - start)
        return out

    def _count(self, rows: int) -> None:
        self.reads += 1
        self.rows_read += rows
        if self.reads % self.release_every == 0 and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        del self._array
        self._map.close()


class ParquetRows:
    """Rows of a Parquet file as one numeric array, decoded one row group at a time.

    Args:
        path: a Parquet file.
        columns: the columns to read, in order (each row is their values); default all.
        cache_groups: decoded row groups kept for the next reads (sequential reading decodes each
            group once; the exact shuffle's scattered reads decode one group per distinct group).
    """

    def __init__(self, path: str | Path, *, columns: list[str] | None = None, cache_groups: int = 2) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        metadata = self._file.metadata
        self.columns = columns or list(self._file.schema_arrow.names)
        _check_numeric_columns(self._file.schema_arrow, self.columns, self.path)
        self.num_rows = int(metadata.num_rows)
        self.row_shape = (len(self.columns),)
        self._starts = [0]
        for group in range(metadata.num_row_groups):
            self._starts.append(self._starts[-1] + metadata.row_group(group).num_rows)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_groups = cache_groups
        self.dtype = self._group(0).dtype if metadata.num_row_groups else np.dtype(np.float64)
        self.reads = 0
        self.rows_read = 0

    def _group(self, group: int) -> np.ndarray:
        cached = self._cache.get(group)
        if cached is not None:
            self._cache.move_to_end(group)
            return cached
        table = self._file.read_row_group(group, columns=self.columns)
        try:
            values = np.column_stack([table.column(c).to_numpy() for c in self.columns])
        except (TypeError, ValueError) as exc:
            raise DataError(f"data.source: '{self.path}': streamed Parquet columns must be numeric ({exc})") from None
        self._cache[group] = values
        while len(self._cache) > self._cache_groups:
            self._cache.popitem(last=False)
        return values

    def read(self, rows: np.ndarray) -> np.ndarray:
        groups = np.searchsorted(self._starts, rows, side="right") - 1
        parts = []
        for group in np.unique(groups).tolist():
            local = rows[groups == group] - self._starts[group]
            parts.append(self._group(group)[local])
        self.reads += 1
        self.rows_read += len(rows)
        return np.concatenate(parts) if parts else np.empty((0, *self.row_shape), self.dtype)

    def read_range(self, start: int, stop: int) -> np.ndarray:
        return self.read(np.arange(start, stop, dtype=np.int64))

    def close(self) -> None:
        self._cache.clear()


def _check_numeric_columns(schema: Any, columns: list[str], path: Path) -> None:
    """Streamed rows are numbers: a column of lists, structs or strings is an error naming it."""
    import pyarrow.types as pat

    for name in columns:
        if name not in schema.names:
            continue  # reported where the columns are chosen
        kind = schema.field(name).type
        if not (pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind)):
            raise DataError(
                f"data.source: column '{name}' of '{path}' holds {kind} values; a streamed Parquet file needs one "
                "number per column (spread lists over columns, or drop the column)"
            )


class ShardRows:
    """Several stores with the same row shape and dtype, seen as one array (shard after shard).

    Args:
        shards: the stores, in order; row ``i`` of the whole is row ``i - start`` of the shard that
            holds it.
    """

    def __init__(self, shards: list[Any]) -> None:
        if not shards:
            raise DataError("data.source: the shard folder holds no .npy or .parquet files")
        first = shards[0]
        for shard in shards[1:]:
            if shard.row_shape != first.row_shape or shard.dtype != first.dtype:
                raise DataError(
                    f"data.source: shard '{getattr(shard, 'path', shard)}' has rows of shape {shard.row_shape} "
                    f"({shard.dtype}); the first shard has {first.row_shape} ({first.dtype}); they must match"
                )
        self.shards = shards
        self.starts = [0]
        for shard in shards:
            self.starts.append(self.starts[-1] + shard.num_rows)
        self.num_rows = self.starts[-1]
        self.row_shape = first.row_shape
        self.dtype = first.dtype

    @property
    def reads(self) -> int:
        return sum(int(s.reads) for s in self.shards)

    @property
    def rows_read(self) -> int:
        return sum(int(s.rows_read) for s in self.shards)

    def read(self, rows: np.ndarray) -> np.ndarray:
        owners = np.searchsorted(self.starts, rows, side="right") - 1
        parts = []
        for shard in np.unique(owners).tolist():
            parts.append(self.shards[shard].read(rows[owners == shard] - self.starts[shard]))
        return np.concatenate(parts) if parts else np.empty((0, *self.row_shape), self.dtype)

    def read_range(self, start: int, stop: int) -> np.ndarray:
        parts, shard = [], bisect.bisect_right(self.starts, start) - 1
        while start < stop:
            end = min(stop, self.starts[shard + 1])
            parts.append(self.shards[shard].read_range(start - self.starts[shard], end - self.starts[shard]))
            start, shard = end, shard + 1
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


def open_rows(
    path: str | Path, *, reader: str = "pread", columns: list[str] | None = None, random_access: bool = True
) -> Any:
    """Open a ``.npy`` file, a Parquet file or a folder of shards as a row store.

    Args:
        path: the file or folder (shards are its ``*.npy`` or ``*.parquet`` files, in name order).
        reader: ``.npy`` files: ``"pread"`` (:class:`NpyRows`) or ``"mmap"`` (:class:`MemmapRows`).
        columns: Parquet columns to read, in order.
        random_access: :class:`NpyRows` only: advise the kernel against read-ahead.

    Raises:
        DataError: a missing path, an unsupported format, or shards that do not match.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".npy", ".parquet") and p.is_file())
        if files and len({p.suffix for p in files}) > 1:
            raise DataError(f"data.source: '{path}' mixes .npy and .parquet shards; use one format")
        return ShardRows([open_rows(p, reader=reader, columns=columns, random_access=random_access) for p in files])
    if not path.exists():
        from batchlab.data.sources import BUILTIN_DATASETS

        if str(path) in BUILTIN_DATASETS:
            raise DataError(
                f"data.stream: streaming reads a .npy or Parquet file (or a folder of them) from disk, but "
                f"'{path}' is a built-in dataset, loaded in memory; set data.stream.enabled: false"
            )
        raise DataError(f"data.source: '{path}' does not exist")
    if path.suffix == ".parquet":
        return ParquetRows(path, columns=columns)
    if path.suffix == ".npy":
        if reader == "mmap":
            return MemmapRows(path)
        return NpyRows(path, random_access=random_access)
    raise DataError(
        f"data.source: '{path}' cannot be streamed; data.stream reads a .npy file, a .parquet file or a "
        "folder of .npy / .parquet shards"
    )
