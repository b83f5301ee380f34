"""Write the metrics rows to a CSV file after every evaluation (atomically, the whole file each time)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import write_text
from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["CSVLogger", "metrics_csv_text"]

_LEADING = ("epoch", "step", "samples")
_TRAILING = ("lr", "seconds")


def metrics_csv_text(rows: list[dict[str, Any]]) -> str:
    """CSV text of metrics rows: ``epoch, step, samples``, the metrics in first-seen order, ``lr, seconds``."""
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    middle = [n for n in names if n not in _LEADING and n not in _TRAILING]
    columns = [n for n in _LEADING if n in names] + middle + [n for n in _TRAILING if n in names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(v) for k, v in row.items()})
    return buffer.getvalue()


def _format(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


class CSVLogger(Callback):
    """Keeps ``path`` equal to the history so far (rows from before a resume included).

    Rewriting the small file whole keeps it valid CSV whatever moment the process dies.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        write_text(self.path, metrics_csv_text(state.history))
