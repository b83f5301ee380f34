"""Reading text files: bytes (plain or gzip / bzip2 / xz compressed) to ``str`` with ``data.encoding``.

Decoding is strict: a byte sequence that is not valid in the encoding is an error naming the file,
the line and byte offset, and the fix (``data.encoding``), rather than a silent replacement
character in the training text. A UTF-8 byte-order mark at the start is dropped, and line ends are
normalized to ``"\\n"`` (``"\\r\\n"`` and ``"\\r"`` as in Python's text mode).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from batchlab.data.compression import read_all
from batchlab.errors import ConfigError, DataError

__all__ = ["check_encoding", "decode_text", "read_text"]


def check_encoding(encoding: str) -> str:
    """The codec name of ``encoding`` (``data.encoding``), e.g. ``"utf-8"`` for ``"UTF8"``.

    Raises:
        ConfigError: Python knows no such encoding.
    """
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(
            f"data.encoding: unknown encoding {encoding!r}; use a Python codec name such as utf-8, latin-1 or cp1252"
        ) from None


def decode_text(data: bytes, *, encoding: str, where: str, field: str = "data.source") -> str:
    """``data`` decoded with ``encoding``, with normalized line ends.

    Args:
        data: the file's bytes.
        encoding: ``data.encoding``.
        where: how messages name the file, e.g. ``"file 'sms.tsv'"``.
        field: the config field that named the file.

    Raises:
        ConfigError: unknown encoding.
        DataError: bytes that are not valid in ``encoding``; one line naming the line, byte offset
            and byte, and suggesting ``data.encoding``.
    """
    codec = check_encoding(encoding)
    try:
        text = data.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        other = "cp1252" if codec in ("latin-1", "iso8859-1") else "latin-1"
        raise DataError(
            f"{field}: {where} is not valid {encoding}: byte 0x{bad} at line {line} (byte offset {exc.start}) "
            f"cannot be decoded; set data.encoding to the file's encoding, e.g. data.encoding: {other}"
        ) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_text(path: Path, *, encoding: str, field: str = "data.source") -> str:
    """All the text of the file ``path`` (decompressed, decoded and with normalized line ends).

    Raises:
        DataError: the file cannot be read, is corrupt, or is not valid in ``encoding``.
        ConfigError: unknown encoding.
    """
    try:
        data = read_all(path, field=field)
    except OSError as exc:
        raise DataError(f"{field}: file '{path}' cannot be read ({exc.__class__.__name__})") from None
    return decode_text(data, encoding=encoding, where=f"file '{path}'", field=field)
