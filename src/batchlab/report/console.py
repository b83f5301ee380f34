"""The console batchlab prints through: terminal width on a terminal, no width limit anywhere else.

rich lays a table out to the console's width and cuts every cell that does not fit with an ellipsis.
On a terminal that width is the window's. Written to a pipe, a log file or a CI log there is no window,
and rich would assume 80 columns: a study table of fifteen columns becomes ``0.36…`` in every cell. So
when the output is not a terminal (and neither a width nor ``COLUMNS`` was given), this console reports
a width of :data:`UNLIMITED` columns: tables take their natural width and long lines are not wrapped,
which is what a file or a ``grep`` wants.

Example:
    >>> import io
    >>> from rich.table import Table
    >>> out = io.StringIO()
    >>> table = Table("metric", *[f"column {i}" for i in range(12)])
    >>> table.add_row("val_accuracy", *["0.3612"] * 12)
    >>> OutputConsole(file=out).print(table)
    >>> "0.3612" in out.getvalue() and "…" not in out.getvalue()
    True
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console, ConsoleDimensions

__all__ = ["UNLIMITED", "OutputConsole"]

UNLIMITED = 10_000
"""Columns of a console that is not a terminal: wider than any table batchlab prints."""


class OutputConsole(Console):
    """A rich :class:`~rich.console.Console` whose width is unlimited when it does not write to a terminal.

    Args:
        **options: as for :class:`rich.console.Console`; an explicit ``width`` is kept as given.
    """

    def __init__(self, **options: Any) -> None:
        options.setdefault("highlight", False)
        self._fixed_width = options.get("width") is not None
        super().__init__(**options)

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size; in a pipe or a file, :data:`UNLIMITED` columns unless ``COLUMNS`` is set."""
        size = super().size
        if self._fixed_width or self.is_terminal or os.environ.get("COLUMNS", "").isdigit():
            return size
        return ConsoleDimensions(UNLIMITED, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._fixed_width = True
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    @property
    def width(self) -> int:
        """Columns available to a line or a table (see :attr:`size`)."""
        return self.size.width

    @width.setter
    def width(self, width: int) -> None:
        self._fixed_width = True
        Console.width.fset(self, width)  # type: ignore[attr-defined]
