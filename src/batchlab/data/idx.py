"""Reading MNIST-format IDX files (plain or gzipped) with their labels file.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the values in C order. MNIST images are magic 2051
(uint8, 3 dimensions: n, rows, columns); labels are magic 2049 (uint8, 1 dimension: n).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from batchlab.data.compression import read_all
from batchlab.errors import DataError

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "find_labels_beside", "is_idx_header", "parse_idx", "read_idx"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def is_idx_header(head: bytes) -> bool:
    """Whether the first bytes of a (decompressed) file are the MNIST images or labels magic number."""
    return len(head) >= 4 and int.from_bytes(head[:4], "big") in (IMAGES_MAGIC, LABELS_MAGIC)


def parse_idx(data: bytes, *, where: str) -> np.ndarray:
    """Decode the bytes of one IDX file.

    Args:
        data: the whole decompressed file.
        where: names the file in error messages.

    Returns:
        The values with the dimensions of the header, in native byte order (uint8 for MNIST).

    Raises:
        DataError: bad magic number, or fewer or more bytes than the header promises.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES or data[3] == 0:
        raise DataError(f"data: {where} is not an IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(f"data: {where} is truncated inside its IDX header ({len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_TYPES[data[2]])
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - offset
    if actual < expected:
        raise DataError(
            f"data: {where} is truncated: its header promises shape {dims} ({expected} bytes) "
            f"but only {actual} bytes follow"
        )
    if actual > expected:
        raise DataError(f"data: {where} has {actual - expected} bytes after the {dims} values its header promises")
    values = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=offset).reshape(dims)
    return values.astype(dtype.newbyteorder("="))


def find_labels_beside(images: Path) -> list[Path]:
    """Labels files to look for beside images: ``t10k-images-idx3-ubyte.gz`` → ``t10k-labels-idx1-ubyte.gz``.

    Both the compressed and the uncompressed name are proposed; only the ones that differ from
    ``images`` are returned, in order of preference (same compression first).
    """
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    if name == images.name:
        return []
    base = name.removesuffix(".gz")
    names = [name, base if name.endswith(".gz") else base + ".gz"]
    return [images.with_name(n) for n in names]


def read_idx(
    images: Path, *, labels: Path | None, field: str, require_target: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (or vectors) and labels from an IDX pair.

    Args:
        images: the features file, e.g. ``t10k-images-idx3-ubyte.gz``.
        labels: the labels file; ``None`` looks beside ``images`` (:func:`find_labels_beside`).
        field: the config field that named ``images``, for error messages.
        require_target: raise when no labels file is found, instead of returning ``None``.

    Returns:
        ``(x, y)``: x ``(n, 1, H, W)`` for 3-D data (uint8 for MNIST) or ``(n, d)``; y ``(n,)`` or ``None``.

    Raises:
        DataError: a file is missing, truncated or not IDX; the counts disagree.
    """
    x = parse_idx(read_all(images, field=field), where=f"file '{images}'")
    if x.ndim == 1:
        raise DataError(
            f"{field}: file '{images}' is an IDX labels file (1-D); name the images file instead "
            "and the labels are found beside it"
        )
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 2 and x.ndim != 4:
        raise DataError(f"{field}: file '{images}' holds IDX data of shape {x.shape}; expected (n, H, W)")
    if labels is not None and not labels.is_file():
        raise DataError(f"data.labels: file '{labels}' does not exist")
    candidates = [labels] if labels is not None else [p for p in find_labels_beside(images) if p.is_file()]
    if not candidates:
        if require_target:
            looked = ", ".join(f"'{p.name}'" for p in find_labels_beside(images)) or "no name could be derived"
            raise DataError(f"{field}: no labels file beside '{images}' (looked for {looked}); set data.labels")
        return x, None
    y = parse_idx(read_all(candidates[0], field="data.labels"), where=f"file '{candidates[0]}'")
    if y.ndim != 1:
        raise DataError(f"data.labels: file '{candidates[0]}' has shape {y.shape}; expected one label per image")
    if y.shape[0] != x.shape[0]:
        raise DataError(
            f"data.labels: file '{candidates[0]}' has {y.shape[0]} labels but '{images}' has {x.shape[0]} images"
        )
    return x, y.astype(np.int64)
