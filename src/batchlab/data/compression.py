"""Opening files that may be gzip, bzip2 or xz compressed, recognised by their magic bytes.

The readers of :mod:`batchlab.data.sources` sniff a file's format from its first bytes, and those
must be the decompressed bytes: ``t10k-images-idx3-ubyte.gz`` is an IDX file inside a gzip wrapper.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import IO, cast

from batchlab.errors import DataError

__all__ = ["open_maybe_compressed", "read_all", "read_head"]

_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"


def open_maybe_compressed(path: Path) -> IO[bytes]:
    """Open ``path`` for binary reading, decompressing it on the fly when it is compressed.

    Args:
        path: a regular file.

    Returns:
        A binary file object positioned at the first decompressed byte; the caller closes it.
    """
    with open(path, "rb") as raw:
        magic = raw.read(6)
    if magic.startswith(_GZIP):
        return cast("IO[bytes]", gzip.open(path, "rb"))
    if magic.startswith(_BZIP2):
        return bz2.open(path, "rb")
    if magic.startswith(_XZ):
        return lzma.open(path, "rb")
    return open(path, "rb")


def read_head(path: Path, size: int) -> bytes:
    """The first ``size`` decompressed bytes of ``path`` (fewer when the file is shorter).

    A compressed file that is cut short yields what could be decompressed, since only the head is
    needed to recognise a format.
    """
    head = b""
    with open_maybe_compressed(path) as stream:
        read = getattr(stream, "read1", stream.read)  # read1: what is there, without insisting on `size`
        try:
            while len(head) < size:
                chunk = read(size - len(head))
                if not chunk:
                    break
                head += chunk
        except (EOFError, OSError, lzma.LZMAError):
            pass
    return head


def read_all(path: Path, *, field: str) -> bytes:
    """All decompressed bytes of ``path``.

    Args:
        path: a regular file, compressed or not.
        field: the config field that named the file, for error messages (e.g. ``data.source``).

    Raises:
        DataError: the compressed stream is truncated or corrupt.
    """
    try:
        with open_maybe_compressed(path) as stream:
            return stream.read()
    except (EOFError, OSError, lzma.LZMAError) as exc:
        raise DataError(f"{field}: file '{path}' is truncated or corrupt ({exc.__class__.__name__}: {exc})") from None
