"""A plain-text corpus for language modelling, and its contiguous train / validation / test sections.

``data.source`` is a ``.txt`` file or a folder of them. A folder's ``.txt`` files (found in it and
its sub-folders) are read in order of their path relative to the folder and joined with
:data:`FILE_SEPARATOR` (one blank line) between files. Files are decoded with ``data.encoding``
(see :mod:`batchlab.data.text.files`).

Sections are contiguous, so no window straddles two of them and nothing of the validation text is
seen in training: the text is cut into ``[train | validation | test]``. The fractions
``data.split.val`` and ``data.split.test`` are of **characters** (the tokenizer is fit on the
training section only, so the text is cut before it is tokenized): ``round(val * n)`` characters
for validation, ``round(test * n)`` for the test section, the rest, the head, for training. For a
``char`` tokenizer characters are tokens.

Example:
    >>> split_corpus("abcdefghij", val=0.2, test=0.1)
    ('abcdefg', 'hi', 'j')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from batchlab.data.text.files import read_text
from batchlab.errors import DataError

__all__ = ["FILE_SEPARATOR", "Corpus", "check_window", "read_corpus", "section_sizes", "split_corpus"]

FILE_SEPARATOR = "\n\n"
"""Text put between the files of a corpus folder (a blank line)."""

SECTION_NAMES = {"train": "training", "val": "validation", "test": "test"}


@dataclass(frozen=True)
class Corpus:
    """The text of a corpus.

    Attributes:
        text: all the text, files joined by :data:`FILE_SEPARATOR`, line ends normalized to ``"\\n"``.
        files: each file's path relative to the folder, in reading order (the file's name for a
            single file).
    """

    text: str
    files: tuple[str, ...]

    def __len__(self) -> int:
        """Characters of text."""
        return len(self.text)


def read_corpus(source: str, *, encoding: str = "utf-8", field: str = "data.source") -> Corpus:
    """Read a ``.txt`` file or a folder of ``.txt`` files.

    Args:
        source: the file or folder (``data.source``).
        encoding: ``data.encoding``.
        field: the config field named in messages.

    Raises:
        DataError: the path does not exist, a folder holds no ``.txt`` file, a file is not valid in
            ``encoding``, or the corpus has no text besides whitespace.
        ConfigError: unknown encoding.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted((p for p in path.rglob("*.txt") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())
        if not files:
            raise DataError(f"{field}: folder '{source}' holds no .txt files for a corpus")
        names = tuple(p.relative_to(path).as_posix() for p in files)
    elif path.is_file():
        files, names = [path], (path.name,)
    else:
        raise DataError(f"{field}: file '{source}' does not exist")
    text = FILE_SEPARATOR.join(read_text(p, encoding=encoding, field=field) for p in files)
    if not text.strip():
        what = f"the .txt files of folder '{source}' hold" if path.is_dir() else f"file '{source}' holds"
        raise DataError(f"{field}: the corpus is empty: {what} no text besides whitespace")
    return Corpus(text, names)


def section_sizes(n: int, *, val: float, test: float) -> tuple[int, int, int]:
    """Characters in the ``(train, val, test)`` sections of ``n`` characters (halves round up).

    Example:
        >>> section_sizes(1000, val=0.1, test=0.0)
        (900, 100, 0)
    """
    n_val = math.floor(val * n + 0.5)
    n_test = math.floor(test * n + 0.5)
    return n - n_val - n_test, n_val, n_test


def split_corpus(text: str, *, val: float, test: float) -> tuple[str, str, str]:
    """The training head, then the validation and test sections, of ``text`` (see the module docstring).

    ``train + val + test == text``; a section with fraction 0 is ``""``.
    """
    n_train, n_val, _ = section_sizes(len(text), val=val, test=test)
    return text[:n_train], text[n_train : n_train + n_val], text[n_train + n_val :]


def check_window(tokens: int, context: int, section: str, *, source: str | None = None) -> None:
    """Raise unless a section of ``tokens`` tokens holds one window: ``context`` inputs and the next token.

    Args:
        tokens: tokens in the section.
        context: ``data.context``.
        section: ``"train"``, ``"val"`` or ``"test"``.
        source: the separate file of the section (``data.split.val_source`` / ``test_source``), if any.

    Raises:
        DataError: one line naming ``data.context``, the section's size and what to change.
    """
    if tokens >= context + 1:
        return
    if source is not None:
        where = f"data.split.{section}_source '{source}'"
        fix = "lower data.context or use a longer file"
    elif section == "train":
        where = "the training section"
        fix = "lower data.context, data.split.val or data.split.test, or use a longer corpus"
    else:
        where = f"the {SECTION_NAMES[section]} section"
        fix = f"lower data.context, raise data.split.{section}, or set data.split.{section}: 0"
    raise DataError(
        f"data.context: {where} has {tokens} tokens, fewer than one window of data.context={context} + 1; {fix}"
    )
