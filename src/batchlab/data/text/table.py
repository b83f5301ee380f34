"""Reading labelled texts: one text column (``data.text``) and one label column (``data.target``).

Formats, by extension (a ``.gz`` / ``.bz2`` / ``.xz`` suffix is looked through):

* delimited text (``.csv``, ``.tsv``, ``.txt``, anything else that is text): ``data.sep``,
  ``data.header``, ``data.columns``. With ``sep: auto`` a ``.tsv`` or ``.tab`` file is tab-separated;
  otherwise the sniffed separator is used when the first line holds it, else a tab or comma that the
  first line holds, else the file is one column (one text per line, e.g. prediction input). A
  header-less file whose columns ``data.columns`` names must split its first lines into that many
  fields (or one fewer, the label's, for prediction input), all alike: a list of texts holding
  commas is one column, not comma-separated. Prediction input holds the label column where every
  sampled line has a training class in its place (``classes``).
  Tab-separated files are read **without quote processing**: a ``"`` is an ordinary character, so
  messages such as ``He said "hi`` need no escaping (the SMS Spam Collection). A line with more tabs
  than columns keeps the extra tabs inside the text when the text is the last column. Other
  separators follow the usual CSV quoting (a text holding the separator must be quoted).
* Parquet (``.parquet``, ``.pq``), and JSON lines (``.jsonl``, ``.ndjson``, ``.json``: one object per
  line; a ``.json`` file holding one array of objects works too).

Text files are decoded with ``data.encoding`` (strictly: see :mod:`batchlab.data.text.files`).
The label column is ``data.target``; by default the last column other than the text column.

Rows that cannot be used are dropped, each reason with one logged warning that gives the count:

* an empty, whitespace-only or missing text (a cell equal to one of ``data.missing_values`` after
  stripping whitespace, e.g. ``NA``; set ``data.missing_values: []`` to keep such texts);
* a missing label (empty or one of ``data.missing_values``), when labels are read.

Texts are kept exactly as written (no stripping); labels are stripped of surrounding whitespace.

Example:
    >>> from batchlab.config import DataConfig
    >>> table = read_text_table(DataConfig(source="sms.tsv", header=False, columns=["label", "message"],
    ...                                    text="message", target="label"))  # doctest: +SKIP
    >>> len(table), table.labels[:2].tolist()  # doctest: +SKIP
    (5574, ['ham', 'ham'])
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from batchlab.data.compression import read_head
from batchlab.data.tabular import resolve_separator
from batchlab.data.text.files import read_text
from batchlab.errors import ConfigError, DataError, did_you_mean

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = ["TextTable", "read_text_table"]

logger = logging.getLogger(__name__)

_COMPRESSED = (".gz", ".bz2", ".xz")
_PARQUET = (".parquet", ".pq")
_JSON = (".jsonl", ".ndjson", ".json")
_TAB_SUFFIXES = (".tsv", ".tab")
_SNIFF_LINES = 50


@dataclass(frozen=True)
class TextTable:
    """Texts and their labels, as read (after dropping unusable rows).

    Attributes:
        texts: ``n`` texts, exactly as in the file.
        labels: ``(n,)`` numpy array of label strings (stripped), or ``None`` when the input has no
            label column (prediction input).
        rows: ``(n,)`` int64: the 1-based data row of each text in the file (the header and blank
            lines are not counted; a JSON array counts its objects), for messages and predictions.
        text_column: the text column's name.
        target_column: the label column's name, or ``None`` without labels.
        where: how messages name the source, e.g. ``"file 'sms.tsv'"``.
    """

    texts: list[str]
    labels: np.ndarray | None
    rows: np.ndarray
    text_column: str
    target_column: str | None
    where: str

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, positions: np.ndarray | Sequence[int]) -> TextTable:
        """The rows at ``positions`` (0-based positions in this table), in that order."""
        index = np.asarray(positions, dtype=np.int64)
        return TextTable(
            [self.texts[i] for i in index.tolist()],
            None if self.labels is None else self.labels[index],
            self.rows[index],
            self.text_column,
            self.target_column,
            self.where,
        )


@dataclass(frozen=True)
class _Columns:
    """A parsed file: column names, the cells of each column (``None`` = missing) and data-row numbers."""

    names: list[str]
    cells: list[list[str | None]]
    rows: np.ndarray


def read_text_table(
    cfg: DataConfig,
    source: str | None = None,
    *,
    require_target: bool = True,
    field: str | None = None,
    classes: Sequence[str] | None = None,
) -> TextTable:
    """Read the text column ``cfg.text`` and the label column of a table.

    Args:
        cfg: the ``data`` section: ``source``, ``text``, ``target``, ``sep``, ``header``, ``columns``,
            ``encoding``, ``missing_values``.
        source: a file that replaces ``cfg.source`` (a ``val_source`` / ``test_source``, or input for
            evaluate / predict).
        require_target: when false (prediction input) labels are not read, even when the file has
            a label column: ``labels`` is ``None``, and a header-less file may have one column fewer
            than ``cfg.columns`` (the label's).
        field: the config field named in messages; default ``data.source``, or ``input`` when
            ``source`` is given.
        classes: the classes of training, for prediction input: a header-less file is read as holding
            the label column only when the sampled lines have one of them in its place (otherwise a
            one-column file of texts that hold a comma would lose each text's start to the label).

    Returns:
        The usable rows as a :class:`TextTable` (see the module docstring for what is dropped).

    Raises:
        ConfigError: ``data.text`` unset or naming the label column, unknown encoding, bad separator.
        DataError: missing / empty / unreadable file, bytes not valid in ``data.encoding``, unknown
            text or label column, rows with the wrong number of fields, no usable rows.
    """
    name = cfg.source if source is None else source
    field = field or ("data.source" if source is None else "input")
    if cfg.text is None:
        raise ConfigError("data.text: name the text column of the table (e.g. data.text: message)")
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataError(f"{field}: file '{name}' does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    where = f"file '{name}'"
    kind = _format_of(path)
    if kind != "delimited" and cfg.columns is not None and field == "data.source":
        raise DataError(
            f"data.columns: names the columns of a header-less delimited file, but data.source '{name}' is a "
            f"{'Parquet' if kind == 'parquet' else 'JSON'} file, which names its own columns; remove data.columns"
        )
    if kind == "parquet":
        parsed = _read_parquet(path, field=field)
    elif kind == "json":
        parsed = _read_json(read_text(path, encoding=cfg.encoding, field=field), where=where, field=field)
    else:
        parsed = _read_delimited(path, cfg, require_target=require_target, field=field, where=where, classes=classes)
    # data.columns names the columns of a header-less delimited file; Parquet and JSON name their own
    names = (
        parsed.names if kind != "delimited" else _renamed(parsed.names, cfg, require_target=require_target, where=where)
    )
    return _select(_Columns(names, parsed.cells, parsed.rows), cfg, require_target=require_target, where=where)


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _PARQUET or read_head(path, 4) == b"PAR1":
        return "parquet"
    if suffix in _JSON:
        return "json"
    return "delimited"


# ------------------------------------------------------------------------------------------ readers


def _read_delimited(
    path: Path, cfg: DataConfig, *, require_target: bool, field: str, where: str, classes: Sequence[str] | None
) -> _Columns:
    text = read_text(path, encoding=cfg.encoding, field=field)
    if not text.strip():
        raise DataError(f"{field}: {where} is empty")
    sep = _separator(path, text, cfg.sep, _expected_fields(cfg, require_target=require_target, classes=classes))
    names: list[str] | None = None
    text_index = -1
    records: list[list[str]] = []
    line = 0
    try:
        for line, fields in _records(text, sep):
            if names is None:
                if cfg.header:
                    names = [f.strip() for f in fields]
                    text_index = _text_index(_renamed(names, cfg, require_target=require_target, where=where), cfg)
                    continue
                names = [str(i) for i in range(len(fields))]
                renamed = _renamed(names, cfg, require_target=require_target, where=where)
                text_index = _text_index(renamed, cfg)
                if cfg.columns is not None and [f.strip().lower() for f in fields] == [n.lower() for n in renamed]:
                    logger.warning(
                        "the first line of %s repeats the column names (%s) but data.header is false, so it is "
                        "read as a data row; remove that line (the training data has no header)",
                        where,
                        ", ".join(f.strip() for f in fields),
                    )
            if len(fields) > len(names) and sep == "\t" and text_index == len(names) - 1:
                fields = [*fields[:text_index], "\t".join(fields[text_index:])]  # tabs inside the text
            if len(fields) != len(names):
                raise DataError(
                    f"{field}: line {line} of {where} has {len(fields)} fields but the table has "
                    f"{len(names)} columns; quote texts that hold the separator {sep!r}, or set data.sep"
                )
            records.append(fields)
    except csv.Error as exc:
        raise DataError(f"{field}: {where} cannot be parsed near line {line + 1} ({exc}); set data.sep") from None
    if names is None or not records:
        raise DataError(f"{field}: {where} has no data rows")
    cells: list[list[str | None]] = [list(column) for column in zip(*records, strict=True)]
    return _Columns(names, cells, np.arange(1, len(records) + 1, dtype=np.int64))


def _records(text: str, sep: str | None) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank record; ``sep=None``: each line is one field."""
    if sep is None:
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                yield number, [line]
        return
    tab = sep == "\t"
    reader = csv.reader(
        io.StringIO(text),
        delimiter=sep,
        quoting=csv.QUOTE_NONE if tab else csv.QUOTE_MINIMAL,
        skipinitialspace=not tab,
        strict=False,
    )
    for fields in reader:
        if fields and not (len(fields) == 1 and not fields[0].strip()):  # skip blank lines
            yield reader.line_num, fields


@dataclass(frozen=True)
class _Expected:
    """What the lines of a header-less file with ``data.columns`` may look like.

    Attributes:
        counts: the numbers of fields a line may have: all the columns, or (prediction input) all but
            the label's.
        label: with every column, where the label is and the training classes it must be one of, or
            ``None`` when not checked.
    """

    counts: set[int]
    label: tuple[int, frozenset[str]] | None = None

    def labelled(self, fields: list[str]) -> bool:
        """``fields`` hold every column, with a training class in the label's place."""
        if self.label is None or len(fields) < max(self.counts):
            return False
        index, classes = self.label
        return _is_class(fields[index].strip(), classes)


def _is_class(cell: str, classes: frozenset[str]) -> bool:
    """``cell`` names a training class (``"1.0"`` is the class ``"1"`` when the classes are numbers)."""
    if cell in classes:
        return True
    try:
        return float(cell) in {float(c) for c in classes}
    except ValueError:
        return False


def _expected_fields(cfg: DataConfig, *, require_target: bool, classes: Sequence[str] | None) -> _Expected | None:
    """How the lines of a header-less file with ``data.columns`` may split (``None``: not known)."""
    if cfg.header or cfg.columns is None:
        return None
    if require_target or cfg.target not in cfg.columns:
        return _Expected({len(cfg.columns)})
    # prediction input, with or without its label column
    label = (cfg.columns.index(cfg.target), frozenset(str(c) for c in classes)) if classes else None
    return _Expected({len(cfg.columns), len(cfg.columns) - 1}, label)


def _separator(path: Path, text: str, setting: str, expected: _Expected | None = None) -> str | None:
    """The one-character separator of a text table, or ``None`` for a single column (one text per line).

    With ``data.sep: auto``: tab for a ``.tsv`` / ``.tab`` file; else the sniffed separator when the
    first line holds it; else a tab or a comma when the first line (the header, or the first row)
    holds one; else the file is one column. With ``expected`` field counts (a header-less file with
    named columns) a candidate must split the sampled lines alike into one of them, or (when the
    training classes are known) put a class in the label's place on every line; when none does and one
    column is expected, the file is one column (texts that happen to hold commas).
    """
    if setting != "auto":
        sep = resolve_separator(setting, [])
        if len(sep) > 1 and len(sep.strip(" ")) == 1:
            return sep.strip(" ")  # ", " is "," (spaces after a separator are skipped)
        if len(sep) != 1:
            raise ConfigError(
                f"data.sep: text tables need a one-character separator (e.g. tab or comma), got {setting!r}"
            )
        return sep
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in _COMPRESSED]
    if suffixes and suffixes[-1] in _TAB_SUFFIXES:
        return "\t"
    lines = text.split("\n", _SNIFF_LINES + 1)
    whole = len(lines) <= _SNIFF_LINES  # the sample is the whole file
    sample = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    sniffed = resolve_separator("auto", sample)
    candidates = [c for c in dict.fromkeys((sniffed, "\t", ",")) if len(c) == 1 and c in sample[0]]
    if expected is not None:
        fitting = [c for c in candidates if _fits(sample, c, expected, whole=whole)]
        if fitting:
            return fitting[0]
        if 1 in expected.counts:
            return None
    return candidates[0] if candidates else None


def _fits(sample: list[str], sep: str, expected: _Expected, *, whole: bool) -> bool:
    """Whether every sampled line splits into the same one of the ``expected`` numbers of fields, or,
    with the training classes known, holds one of them in the label's place.

    Tab-separated lines may have more (extra tabs are kept in a last text column). Unless the sample
    is the ``whole`` file its last record is not counted: a quoted text may go on past it.
    """
    records = [fields for _, fields in _records("\n".join(sample), sep)]
    records = records[:-1] if len(records) > 1 and not whole else records
    allowed = expected.counts
    if expected.label is not None:
        if all(expected.labelled(fields) for fields in records):
            return True  # a labelled file; a line with more fields is an error that names it, when read
        allowed = allowed - {max(allowed)}  # without labels, the lines hold every column but the label's
    counts = [len(fields) for fields in records]
    if sep == "\t":
        return all(n in allowed or n > max(allowed) for n in counts)
    return len(set(counts)) == 1 and counts[0] in allowed


def _read_parquet(path: Path, *, field: str) -> _Columns:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types; all mean "not a readable Parquet file"
        raise DataError(f"{field}: file '{path}' cannot be read as Parquet ({_first_line(exc)})") from None
    if frame.shape[0] == 0:
        raise DataError(f"{field}: file '{path}' has no data rows")
    cells = [[_cell(v) for v in frame[name].tolist()] for name in frame.columns]
    return _Columns([str(c) for c in frame.columns], cells, np.arange(1, frame.shape[0] + 1, dtype=np.int64))


def _read_json(text: str, *, where: str, field: str) -> _Columns:
    records: list[Any]
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(f"{field}: {where} is not valid JSON at line {exc.lineno} ({exc.msg})") from None
        lines = list(range(1, len(records) + 1))
    else:
        records, lines = [], []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{field}: line {number} of {where} is not valid JSON ({exc.msg}); expected one object per line"
                ) from None
            lines.append(number)
    for record, number in zip(records, lines, strict=True):
        if not isinstance(record, dict):
            raise DataError(f"{field}: record {number} of {where} is a {type(record).__name__}, not a JSON object")
    if not records:
        raise DataError(f"{field}: {where} has no data rows")
    names = list(dict.fromkeys(str(key) for record in records for key in record))
    cells = [[_cell(record.get(name)) for record in records] for name in names]
    return _Columns(names, cells, np.arange(1, len(records) + 1, dtype=np.int64))


def _cell(value: Any) -> str | None:
    """A cell as text; ``None`` / NaN are missing, whole floats print without a decimal point."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (np.floating, np.integer)):
        return _cell(value.item())
    return str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


# ---------------------------------------------------------------------------------------- selection


def _renamed(names: list[str], cfg: DataConfig, *, require_target: bool, where: str) -> list[str]:
    """``names``, or ``cfg.columns`` when given (without the target's name for prediction input)."""
    if cfg.columns is None:
        return names
    given = list(cfg.columns)
    if len(given) == len(names) + 1 and not require_target and cfg.target in given:
        given.remove(cfg.target)  # prediction input without its label column
    if len(given) != len(names):
        raise DataError(f"data.columns: names {len(cfg.columns)} columns but {where} has {len(names)}")
    return given


def _text_index(names: list[str], cfg: DataConfig) -> int:
    assert cfg.text is not None  # checked by read_text_table
    return names.index(cfg.text) if cfg.text in names else -1


def _select(parsed: _Columns, cfg: DataConfig, *, require_target: bool, where: str) -> TextTable:
    text_column = cfg.text
    assert text_column is not None  # checked by read_text_table
    names = parsed.names
    if text_column not in names:
        hint = did_you_mean(text_column, names)
        listed = f" (columns: {', '.join(names)})" if hint.startswith("did you mean") else ""
        raise DataError(f"data.text: column '{text_column}' does not exist in {where}; {hint}{listed}")
    target = _target_column(names, cfg, require_target=require_target, where=where)
    markers = {m.strip() for m in cfg.missing_values}
    texts = parsed.cells[names.index(text_column)]
    keep = np.array([t is not None and bool(t.strip()) and t.strip() not in markers for t in texts], dtype=bool)
    n = keep.size
    _warn_dropped(int(n - keep.sum()), n, where, f"an empty or missing text (column '{text_column}')")
    labels = None
    if target is not None:
        raw_labels = [None if v is None else v.strip() for v in parsed.cells[names.index(target)]]
        labelled = np.array([v is not None and v != "" and v not in markers for v in raw_labels], dtype=bool)
        _warn_dropped(int(n - labelled.sum()), n, where, f"a missing label (column '{target}')")
        keep &= labelled
        labels = np.array([v if v is not None else "" for v in raw_labels], dtype=np.str_)[keep]
    if not keep.any():
        needed = f"both a text (column '{text_column}') and a label" if target else "a non-empty text"
        raise DataError(f"data.text: {where} has no row with {needed}")
    kept_texts = [t for t, k in zip(texts, keep.tolist(), strict=True) if k and t is not None]
    return TextTable(kept_texts, labels, parsed.rows[keep], text_column, target, where)


def _target_column(names: list[str], cfg: DataConfig, *, require_target: bool, where: str) -> str | None:
    target = cfg.target
    if target == cfg.text:
        raise ConfigError(f"data.target: '{target}' is also data.text; name the label column in data.target")
    if not require_target:
        return None  # prediction input: labels, if any, are not read (nor are rows dropped for lacking one)
    if target is None:
        others = [n for n in names if n != cfg.text]
        if not others:
            raise DataError(f"data.target: {where} has only the text column '{cfg.text}'; it needs a label column too")
        return others[-1]
    if target not in names:
        others = [n for n in names if n != cfg.text]
        raise DataError(f"data.target: column '{target}' does not exist in {where}; {did_you_mean(target, others)}")
    return target


def _warn_dropped(count: int, total: int, where: str, reason: str) -> None:
    if count:
        logger.warning(
            "%d of %d rows of %s have %s and are dropped; fill them in or remove them to silence this warning",
            count,
            total,
            where,
            reason,
        )
