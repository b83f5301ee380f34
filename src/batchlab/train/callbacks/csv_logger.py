"""Write the metrics rows to a CSV file: one appended line per evaluation, the whole file at the ends."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import write_text
from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["CSVLogger", "metrics_csv_text", "read_metrics_rows"]

_LEADING = ("epoch", "step", "samples")
_TRAILING = ("lr", "seconds")


def metrics_csv_text(rows: list[dict[str, Any]]) -> str:
    """CSV text of metrics rows: ``epoch, step, samples``, the metrics in first-seen order, ``lr, seconds``."""
    columns = _columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(v) for k, v in row.items()})
    return buffer.getvalue()


def read_metrics_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.csv`` written by :class:`CSVLogger`, numbers parsed (empty cells: ``None``).

    Rows that cannot be parsed (a damaged file) give ``[]``: the rows are a record, not an input.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [{k: _parse(v) for k, v in row.items() if k is not None} for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _parse(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    middle = [n for n in names if n not in _LEADING and n not in _TRAILING]
    return [n for n in _LEADING if n in names] + middle + [n for n in _TRAILING if n in names]


def _format(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


class CSVLogger(Callback):
    """Keeps ``path`` equal to the history so far (rows from before a resume included).

    The file is written whole and atomically (fsynced, renamed) when training starts from a resumed
    history, when a row brings a new column, and when training ends; a new run's first row creates the
    file with the header in one ``write``, and every other row is one appended, flushed line, so an
    evaluation costs a few microseconds however long the history. A process that dies leaves whole lines
    behind (a line is one ``write``), and a resume rewrites the file from the checkpoint's history,
    dropping rows the checkpoint does not have.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._columns: list[str] | None = None

    def on_train_begin(self, state: LoopState) -> None:
        self._columns = None
        if state.history:
            self._rewrite(state.history)

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        row = state.history[-1]
        if self._columns is None and len(state.history) == 1 and self._create(state.history):
            return
        if self._columns is None or not row.keys() <= set(self._columns) or not self.path.exists():
            self._rewrite(state.history)
            return
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=self._columns, lineterminator="\n").writerow(
            {k: _format(v) for k, v in row.items()}
        )
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())

    def on_train_end(self, state: LoopState) -> None:
        if state.history:
            self._rewrite(state.history)

    def _create(self, rows: list[dict[str, Any]]) -> bool:
        """A new run's first row: the file is created with one ``write``, like the appended rows after it
        (a rename and two fsyncs would cost more than the epoch's other output). ``False`` when the file
        exists already (a rerun in the same directory): it is then replaced atomically."""
        try:
            with self.path.open("x", encoding="utf-8") as handle:
                handle.write(metrics_csv_text(rows))
        except FileExistsError:
            return False
        self._columns = _columns(rows)
        return True

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        write_text(self.path, metrics_csv_text(rows))
        self._columns = _columns(rows)
