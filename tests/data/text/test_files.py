"""Tests of batchlab.data.text.files: decoding text files with data.encoding."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from batchlab.data.text.files import check_encoding, read_text
from batchlab.errors import ConfigError, DataError


def test_invalid_bytes_name_the_file_line_offset_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"line one\nline two\ncaf" + b"\xe9 au lait\n")
    with pytest.raises(DataError) as raised:
        read_text(path, encoding="utf-8")
    message = str(raised.value)
    assert message == (
        f"data.source: file '{path}' is not valid utf-8: byte 0xe9 at line 3 (byte offset 21) cannot be decoded; "
        "set data.encoding to the file's encoding, e.g. data.encoding: latin-1"
    )
    assert read_text(path, encoding="latin-1").endswith("café au lait\n")


def test_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^data\.encoding: unknown encoding 'utf9'"):
        check_encoding("utf9")
    assert check_encoding("UTF8") == "utf-8" and check_encoding("latin1") == "iso8859-1"


def test_byte_order_mark_is_dropped_and_line_ends_normalized(tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\n")
    assert read_text(path, encoding="utf-8") == "one\ntwo\nthree\n"


def test_compressed_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(gzip.compress("héllo\n".encode()))
    assert read_text(path, encoding="utf-8") == "héllo\n"
