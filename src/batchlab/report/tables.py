"""Rich tables: metrics rows, confusion matrices, the built-in datasets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

__all__ = ["confusion_table", "datasets_table", "metrics_table"]


def metrics_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> Table:
    """One row per evaluation, one column per metric (in the order of ``metrics.csv``)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


def confusion_table(matrix: Sequence[Sequence[int]], classes: Sequence[str] | None = None) -> Table:
    """Rows are true classes, columns predicted classes."""
    names = list(classes) if classes and len(classes) == len(matrix) else [str(i) for i in range(len(matrix))]
    table = Table(title="confusion matrix (rows: true, columns: predicted)", header_style="bold", show_edge=False)
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for name, row in zip(names, matrix, strict=True):
        table.add_row(name, *(str(v) for v in row))
    return table


def datasets_table() -> Table:
    """The built-in datasets with their size and task."""
    from batchlab.data.builtins import BUILTIN_DATASETS

    table = Table(title="built-in datasets (data.source)", header_style="bold", show_edge=False)
    table.add_column("name")
    table.add_column("description")
    for name, description in BUILTIN_DATASETS.items():
        table.add_row(name, str(description))
    return table


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    return str(value)
