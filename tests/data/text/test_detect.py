"""Tests of batchlab.data.text.detect: which text workflow a data config asks for."""

from __future__ import annotations

from pathlib import Path

from batchlab.config import DataConfig
from batchlab.data.text.detect import text_source_kind


def test_text_column_means_a_text_table(tmp_path: Path) -> None:
    assert text_source_kind(DataConfig(source=str(tmp_path / "any.csv"), text="review")) == "text"
    assert text_source_kind(DataConfig(source="x.txt", text="body", task="language_model")) == "text"


def test_language_model_task_means_a_corpus_whatever_the_extension() -> None:
    assert text_source_kind(DataConfig(source="book.md", task="language_model")) == "corpus"


def test_txt_file_is_a_corpus_unless_table_options_say_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text("It was the best of times\n")
    gz = tmp_path / "book.TXT.gz"
    gz.write_bytes(b"")
    assert text_source_kind(DataConfig(source=str(path))) == "corpus"
    assert text_source_kind(DataConfig(source=str(gz))) == "corpus"
    assert text_source_kind(DataConfig(source=str(path), sep="tab")) is None
    assert text_source_kind(DataConfig(source=str(path), target="label")) is None
    assert text_source_kind(DataConfig(source=str(path), columns=["a", "b"])) is None
    assert text_source_kind(DataConfig(source=str(path), task="classification")) is None


def test_folders_of_text_are_corpora_and_image_folders_are_not(tmp_path: Path) -> None:
    books = tmp_path / "books"
    (books / "vol2").mkdir(parents=True)
    (books / "vol1.txt").write_text("a")
    (books / "vol2" / "ch1.txt").write_text("b")
    assert text_source_kind(DataConfig(source=str(books))) == "corpus"
    images = tmp_path / "images"
    (images / "cat").mkdir(parents=True)
    (images / "cat" / "001.png").write_bytes(b"")
    (images / "cat" / "notes.txt").write_text("not a corpus")
    assert text_source_kind(DataConfig(source=str(images))) is None
    assert text_source_kind(DataConfig(source=str(tmp_path / "empty_missing"))) is None


def test_tables_and_builtins_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    assert text_source_kind(DataConfig(source=str(path))) is None
    assert text_source_kind(DataConfig(source="iris")) is None
