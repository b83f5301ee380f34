"""Which text workflow a ``data`` config asks for: a labelled text table, a corpus, or neither.

The rule, in order:

1. ``data.text`` is set: a table with a text column (``"text"``), for classification or regression.
2. ``data.task: language_model``: a corpus (``"corpus"``), whatever the file's extension.
3. ``data.task: auto`` and ``data.source`` is a ``.txt`` file (optionally compressed, ``.txt.gz``) and
   no table option says otherwise (``data.target``, ``data.columns`` and a ``data.sep`` other than
   ``auto`` mark a ``.txt`` file as a table, as before text support): a corpus.
4. ``data.task: auto`` and ``data.source`` is a folder holding ``.txt`` files and no image or audio
   files: a corpus.
5. Otherwise ``None``: tables, arrays, images and audio are read by the other loaders.

Example:
    >>> from batchlab.config import DataConfig
    >>> text_source_kind(DataConfig(source="sms.tsv", text="message")), text_source_kind(DataConfig(source="iris"))
    ('text', None)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from batchlab.data.imagefolder import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = ["TextSourceKind", "text_source_kind"]

TextSourceKind = Literal["text", "corpus"]

_COMPRESSED = (".gz", ".bz2", ".xz")
_MEDIA_SUFFIXES = frozenset((*IMAGE_SUFFIXES, ".webp", ".tif", ".tiff", ".wav", ".flac", ".ogg", ".mp3", ".m4a"))


def text_source_kind(cfg: DataConfig) -> TextSourceKind | None:
    """``"text"`` for a labelled text table, ``"corpus"`` for language modelling, else ``None``.

    Args:
        cfg: the ``data`` section (see the module docstring for the rule).
    """
    if cfg.text is not None:
        return "text"
    if cfg.task == "language_model":
        return "corpus"
    if cfg.task != "auto":
        return None
    path = Path(cfg.source).expanduser()
    if path.is_file():
        table_options = cfg.target is not None or cfg.columns is not None or cfg.sep != "auto"
        return "corpus" if _is_txt(path) and not table_options else None
    if path.is_dir():
        return "corpus" if _is_text_folder(path) else None
    return None


def _is_txt(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] == ".txt"


def _is_text_folder(folder: Path) -> bool:
    """Whether ``folder`` holds ``.txt`` files and no image or audio file (stops at the first one)."""
    found = False
    for _, _, names in os.walk(folder):
        for name in names:
            suffix = os.path.splitext(name)[1].lower()
            if suffix in _MEDIA_SUFFIXES:
                return False
            found = found or suffix == ".txt"
    return found
