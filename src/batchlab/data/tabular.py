"""Reading tables from CSV-like text files and Parquet into a :class:`pandas.DataFrame`.

This module only parses: it resolves the separator, reads the header (or numbers the columns of a
headerless file ``"0"``, ``"1"``, ...), strips whitespace from text cells and turns missing-value
markers into NaN. Choosing the target and dropping columns happens in :mod:`batchlab.data.sources`.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batchlab.data.compression import read_head
from batchlab.errors import DataError

__all__ = [
    "SEPARATOR_CANDIDATES",
    "clean_text_columns",
    "preamble_lines",
    "read_csv",
    "read_parquet",
    "resolve_separator",
    "sniff_separator",
]

logger = logging.getLogger(__name__)

SEPARATOR_CANDIDATES = (",", ";", "\t", "|")
"""Separators that ``sep: auto`` chooses among; ``", "`` is ``","`` since spaces after it are skipped."""

_WHITESPACE = r"\s+"
_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": _WHITESPACE}
_ALIASES["whitespace"] = _WHITESPACE
_SNIFF_BYTES = 1 << 16
_SNIFF_LINES = 50
_QUOTED = re.compile(r'"[^"]*"')


def sniff_separator(lines: Sequence[str]) -> str:
    """Guess a CSV separator from the first lines of a file.

    A candidate wins when most lines (at least 90%) hold it the same, non-zero number of times; among
    winners the one with the most fields per line is chosen. Quoted text is ignored. When no
    candidate fits but the lines split on whitespace into a constant number (> 1) of fields, the
    separator is ``r"\\s+"``. Otherwise the answer is ``","`` (a one-column file).

    Args:
        lines: the file's first lines, without line ends; blank lines are skipped.

    Returns:
        One of :data:`SEPARATOR_CANDIDATES` or ``r"\\s+"``.

    Example:
        >>> sniff_separator(["39, State-gov, 77516", "50, Private, 83311"])
        ','
    """
    rows = [_QUOTED.sub('""', line) for line in lines if line.strip()][:_SNIFF_LINES]
    if not rows:
        return ","
    best: tuple[float, int] | None = None
    choice = ","
    for candidate in SEPARATOR_CANDIDATES:
        count, agreeing = Counter(row.count(candidate) for row in rows).most_common(1)[0]
        consistency = agreeing / len(rows)
        if count > 0 and consistency >= 0.9 and (best is None or (consistency, count) > best):
            best, choice = (consistency, count), candidate
    if best is not None:
        return choice
    fields, agreeing = Counter(len(row.split()) for row in rows).most_common(1)[0]
    if fields > 1 and agreeing / len(rows) >= 0.9:
        return _WHITESPACE
    return ","


def resolve_separator(sep: str, lines: Sequence[str]) -> str:
    """The separator that ``data.sep`` means: sniffed from ``lines`` for ``"auto"``, else the alias's
    separator (``tab``, ``comma``, ``space``, ...) or ``sep`` itself.

    Example:
        >>> resolve_separator("tab", []), resolve_separator("auto", ["a;b", "1;2"])
        ('\\t', ';')
    """
    return sniff_separator(lines) if sep == "auto" else _ALIASES.get(sep, sep)


def preamble_lines(lines: Sequence[str], separator: str) -> int:
    """How many lines at the top of a file precede the table (a title, a note), to be skipped.

    A line belongs to the table when it has the number of fields that most lines have; the lines
    before the first such line are the preamble (at most 10). Nothing is skipped when fewer than 90%
    of the other sampled lines agree on a field count, or when the table has a single column.

    Example:
        >>> preamble_lines(["|1x3 Cross validator", "25, Private, <=50K.", "38, Private, <=50K."], ",")
        1
    """
    sample = [_QUOTED.sub('""', line) for line in lines[: _SNIFF_LINES + 10]]
    counts = [_field_count(line, separator) for line in sample]
    nonblank = [c for line, c in zip(sample, counts, strict=True) if line.strip()]
    if len(nonblank) < 3:
        return 0
    fields = Counter(nonblank).most_common(1)[0][0]
    if fields < 2:
        return 0
    first = next(i for i, c in enumerate(counts) if c == fields and sample[i].strip())
    rest = [c for line, c in zip(sample[first:], counts[first:], strict=True) if line.strip()]
    if first == 0 or first > 10 or rest.count(fields) < 0.9 * len(rest):
        return 0
    return first


def _field_count(line: str, separator: str) -> int:
    if separator == _WHITESPACE:
        return len(line.split())
    return line.count(separator) + 1 if line.strip() else 0


def read_csv(path: Path, *, sep: str, header: bool, missing_values: Sequence[str], field: str) -> pd.DataFrame:
    """Read a delimited text file (plain or compressed) into a frame.

    Args:
        path: the file; ``.gz``, ``.bz2`` and ``.xz`` compression is recognised from its bytes.
        sep: ``"auto"`` (sniffed), a separator string, or an alias (``tab``, ``comma``, ``space``, ...).
            Spaces after a separator are always skipped, so ``", "`` needs no special value.
        header: whether the first non-blank line names the columns; if not, columns are
            named ``"0"``, ``"1"``, ....
        missing_values: cell texts (after stripping whitespace) that mean "missing".
        field: the config field that named the file, for error messages.

    Returns:
        A frame with string column names and a ``RangeIndex`` (row ``i`` is data row ``i + 1``).

    Raises:
        DataError: the file is empty, has no data rows, or cannot be parsed.
    """
    head = read_head(path, _SNIFF_BYTES)
    text = head.decode("utf-8", errors="replace")
    if not text.strip():
        raise DataError(f"{field}: file '{path}' is empty")
    lines = text.splitlines()
    if len(head) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle
    separator = resolve_separator(sep, lines)
    preamble = preamble_lines(lines, separator)
    if preamble:
        logger.warning(
            "skipping %d line(s) at the top of '%s' that do not have the table's number of fields (first: %r)",
            preamble,
            path,
            lines[0][:60],
        )
    options: dict[str, Any] = {
        "sep": separator,
        "skiprows": preamble,
        "header": 0 if header else None,
        "skipinitialspace": True,
        "na_values": list(missing_values),
        "keep_default_na": False,
        "skip_blank_lines": True,
        "compression": _compression_of(path),
    }
    frame = _parse(path, options, field=field, shown_sep=sep if sep != "auto" else separator)
    if frame.shape[0] == 0:
        raise DataError(f"{field}: file '{path}' has a header but no data rows")
    frame.columns = [str(name).strip() for name in frame.columns]
    if header:
        _warn_if_header_is_data(frame.columns, path)
    return clean_text_columns(frame, missing_values)


def read_parquet(path: Path, *, missing_values: Sequence[str], field: str) -> pd.DataFrame:
    """Read a Parquet file into a frame with string column names and a ``RangeIndex``.

    Raises:
        DataError: pyarrow cannot read the file, or it has no rows.
    """
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types; all mean "not a readable Parquet file"
        raise DataError(f"{field}: file '{path}' cannot be read as Parquet ({_first_line(exc)})") from None
    if frame.shape[0] == 0:
        raise DataError(f"{field}: file '{path}' has no data rows")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(name) for name in frame.columns]
    return clean_text_columns(frame, missing_values)


def clean_text_columns(frame: pd.DataFrame, missing_values: Sequence[str]) -> pd.DataFrame:
    """Strip whitespace from the text cells of ``frame`` and turn missing markers into NaN.

    Numeric columns are left as they are. Returns a new frame.
    """
    markers = [value.strip() for value in missing_values]
    cleaned = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            try:
                # non-string cells of an object column become NaN under .str; fillna restores them
                stripped = column.str.strip().fillna(column)
            except AttributeError:  # an object column without any strings
                stripped = column
            cleaned[name] = stripped.mask(stripped.isin(markers), np.nan)
        else:
            cleaned[name] = column
    return pd.DataFrame(cleaned, index=frame.index)


def _parse(path: Path, options: dict[str, Any], *, field: str, shown_sep: str) -> pd.DataFrame:
    try:
        try:
            return pd.read_csv(path, encoding="utf-8", **options)
        except UnicodeDecodeError:
            return pd.read_csv(path, encoding="latin-1", **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{field}: file '{path}' is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(
            f"{field}: file '{path}' cannot be parsed as CSV with separator {shown_sep!r} "
            f"({_first_line(exc)}); set data.sep"
        ) from None
    except OSError as exc:
        raise DataError(f"{field}: file '{path}' cannot be read ({exc.__class__.__name__})") from None


def _compression_of(path: Path) -> str | None:
    # pandas infers compression from the extension only; sniff it so `data.gz.txt` works too.
    with open(path, "rb") as raw:
        magic = raw.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return "gzip"
    if magic.startswith(b"BZh"):
        return "bz2"
    if magic.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def _warn_if_header_is_data(columns: pd.Index, path: Path) -> None:
    numeric = pd.to_numeric(pd.Series(list(columns), dtype=object), errors="coerce").notna().sum()
    if len(columns) > 1 and numeric * 2 >= len(columns):
        logger.warning(
            "the header of '%s' looks like data (%d of %d names are numbers); if the file has no "
            "header, set data.header: false (and data.columns to name them)",
            path,
            numeric,
            len(columns),
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
