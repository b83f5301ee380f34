"""Tests of batchlab.data.text.corpus: reading a corpus and cutting contiguous sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchlab.data.text.corpus import FILE_SEPARATOR, check_window, read_corpus, section_sizes, split_corpus
from batchlab.errors import DataError


def test_sections_are_contiguous_head_then_validation_then_test() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, val, test = split_corpus(text, val=0.1, test=0.05)
    assert (len(train), len(val), len(test)) == (850, 100, 50)
    assert train == text[:850] and val == text[850:950] and test == text[950:]
    assert split_corpus(text, val=0.0, test=0.0) == (text, "", "")


def test_section_sizes_round_halves_up() -> None:
    assert section_sizes(10, val=0.25, test=0.05) == (6, 3, 1)  # 2.5 -> 3 and 0.5 -> 1 characters
    assert section_sizes(1_115_394, val=0.1, test=0.0) == (1_003_855, 111_539, 0)


def test_single_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text("Chapter 1\r\nIt was a dark night.\r\n")
    corpus = read_corpus(str(path))
    assert corpus.text == "Chapter 1\nIt was a dark night.\n" and corpus.files == ("book.txt",)


def test_folder_files_are_joined_in_path_order_with_the_separator(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("third")
    (tmp_path / "notes.md").write_text("ignored")
    corpus = read_corpus(str(tmp_path))
    assert corpus.files == ("a.txt", "b.txt", "sub/c.txt")
    assert corpus.text == FILE_SEPARATOR.join(["first\n", "second", "third"]) == "first\n\n\nsecond\n\nthird"


def test_empty_corpus_and_folder_without_text_are_errors(tmp_path: Path) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\n\t\n")
    with pytest.raises(DataError, match=r"^data\.source: the corpus is empty: file '.*blank\.txt' holds no text"):
        read_corpus(str(blank))
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match=r"^data\.source: folder '.*images' holds no \.txt files"):
        read_corpus(str(tmp_path / "images"))
    with pytest.raises(DataError, match="does not exist"):
        read_corpus(str(tmp_path / "missing.txt"))


def test_non_utf8_corpus_names_the_encoding_fix(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes(b"plain\nna\xefve\n")
    with pytest.raises(DataError, match=r"byte 0xef at line 2 \(byte offset 8\).*data\.encoding: latin-1$"):
        read_corpus(str(path))
    assert read_corpus(str(path), encoding="latin-1").text == "plain\nnaïve\n"


def test_window_check_names_the_section_sizes_and_fields() -> None:
    check_window(65, 64, "val")  # exactly one window: 64 inputs and the next token
    with pytest.raises(DataError) as raised:
        check_window(40, 64, "val")
    assert str(raised.value) == (
        "data.context: the validation section has 40 tokens, fewer than one window of data.context=64 + 1; "
        "lower data.context, raise data.split.val, or set data.split.val: 0"
    )
    with pytest.raises(DataError, match=r"^data\.context: the training section has 64 tokens, .*data\.split\.test"):
        check_window(64, 64, "train")
    with pytest.raises(DataError, match=r"^data\.context: data\.split\.test_source 'x\.txt' has 3 tokens"):
        check_window(3, 8, "test", source="x.txt")
