"""An ``.npy`` file mapped into memory, copied from by blocks of rows whose pages are then released.

Loading a file with :func:`numpy.load` holds all of it in the process while the training split is
copied out of it: two copies of the data at the peak. Mapping it instead costs nothing until rows are
read, but every page read stays resident (and counts in the process's memory) until the map is
closed. So the copies out of a mapped array (:func:`take_rows`, :func:`column`) go by blocks of about
8 MiB of the file and tell the kernel after each block that its pages are no longer needed
(``MADV_DONTNEED``; they stay in the shared, reclaimable page cache). A mapped array is read-only.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.npy"
    >>> np.save(path, np.arange(12, dtype=np.float32).reshape(4, 3))
    >>> x = map_npy(path)
    >>> take_rows(x, np.array([3, 1])).tolist(), column(x, 2).tolist()
    ([[9.0, 10.0, 11.0], [3.0, 4.0, 5.0]], [2.0, 5.0, 8.0, 11.0])
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

__all__ = ["column", "is_mapped", "map_npy", "take_rows"]

_BLOCK_BYTES = 8 << 20


def map_npy(path: Path) -> np.ndarray | None:
    """The array of an ``.npy`` file, read-only and mapped into memory (nothing is read yet).

    Returns:
        The array (C order, its shape and dtype as stored), or ``None`` when the file cannot be mapped
        (Fortran order, Python objects, an empty array, an unreadable header): load it instead.
    """
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                return None
            offset = handle.tell()
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if fortran or dtype.hasobject or nbytes == 0 or len(shape) == 0:
                return None
            buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    if len(buffer) < offset + nbytes:  # a truncated file: let numpy.load report it
        buffer.close()
        return None
    whole = np.frombuffer(buffer, dtype=np.uint8)
    return whole[offset : offset + nbytes].view(dtype).reshape(shape)


def is_mapped(x: np.ndarray) -> bool:
    """Whether ``x`` is (a view of) an array from :func:`map_npy`."""
    return _mapping(x) is not None


def take_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows]`` as a new array; from a mapped ``x``, read by blocks whose pages are released after.

    Args:
        x: any array with rows on the first axis.
        rows: int row positions, shape ``(k,)``, in any order.

    Returns:
        A C-contiguous copy, shape ``(k, *x.shape[1:])``, the dtype of ``x``.
    """
    if _mapping(x) is None:
        return np.ascontiguousarray(x[rows])
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((rows.shape[0], *x.shape[1:]), dtype=x.dtype)
    ascending = bool(np.all(rows[1:] >= rows[:-1])) if rows.size > 1 else True
    order = np.arange(rows.shape[0]) if ascending else np.argsort(rows, kind="stable")
    sorted_rows = rows if ascending else rows[order]
    step = _block_rows(x)
    for start in range(0, int(x.shape[0]), step):
        lo, hi = np.searchsorted(sorted_rows, [start, start + step])
        if hi > lo:
            out[order[lo:hi]] = x[sorted_rows[lo:hi]]
            _release(x, int(sorted_rows[lo]), int(sorted_rows[hi - 1]) + 1)
    return out


def column(x: np.ndarray, index: int) -> np.ndarray:
    """``x[:, index]`` of a 2-D array as a new contiguous array, shape ``(n,)`` (by released blocks if mapped)."""
    if _mapping(x) is None:
        return np.ascontiguousarray(x[:, index])
    out = np.empty(x.shape[0], dtype=x.dtype)
    step = _block_rows(x)
    for start in range(0, int(x.shape[0]), step):
        stop = min(int(x.shape[0]), start + step)
        out[start:stop] = x[start:stop, index]
        _release(x, start, stop)
    return out


def _block_rows(x: np.ndarray) -> int:
    return max(1, _BLOCK_BYTES // max(1, abs(int(x.strides[0])) if x.ndim else 1))


def _mapping(x: np.ndarray) -> tuple[np.ndarray, mmap.mmap] | None:
    """The byte array over the whole map and the map itself, when ``x`` views a mapped file."""
    root = x
    while isinstance(root.base, np.ndarray):
        root = root.base
    buffer = getattr(root.base, "obj", None)  # np.frombuffer keeps a memoryview of the map
    return (root, buffer) if isinstance(buffer, mmap.mmap) and not buffer.closed else None


def _release(x: np.ndarray, first: int, stop: int) -> None:
    """Drop from the process the mapped pages under rows ``first .. stop-1`` of ``x`` (read again on use)."""
    found = _mapping(x)
    if found is None or stop <= first or not hasattr(mmap, "MADV_DONTNEED"):
        return
    root, buffer = found
    base = root.ctypes.data
    begin = x.ctypes.data - base + first * int(x.strides[0])
    end = x.ctypes.data - base + (stop - 1) * int(x.strides[0]) + int(np.prod(x.shape[1:], dtype=np.int64)) * x.itemsize
    begin -= begin % mmap.PAGESIZE
    end = min(len(buffer), end)
    if end > begin:
        buffer.madvise(mmap.MADV_DONTNEED, begin, end - begin)
