"""OutputConsole: the terminal's width on a terminal, no width limit in a pipe or a file."""

from __future__ import annotations

import io

import pytest
from rich.table import Table

from batchlab.report.console import UNLIMITED, OutputConsole


def _wide_table() -> Table:
    table = Table(*[f"metric_{i}" for i in range(15)])
    table.add_row(*[f"0.36{i:02d}" for i in range(15)])
    return table


def test_a_table_written_to_a_file_keeps_every_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    console = OutputConsole(file=out)
    assert not console.is_terminal and console.width == UNLIMITED
    console.print(_wide_table())
    text = out.getvalue()
    assert "…" not in text
    for i in range(15):
        assert f"metric_{i}" in text and f"0.36{i:02d}" in text


def test_a_terminal_keeps_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    out = io.StringIO()
    console = OutputConsole(file=out, force_terminal=True, color_system=None)
    assert console.width == 90
    console.print(_wide_table())
    assert max(len(line) for line in out.getvalue().splitlines()) <= 90


def test_columns_or_an_explicit_width_still_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert OutputConsole(file=io.StringIO()).width == 120
    monkeypatch.delenv("COLUMNS")
    assert OutputConsole(file=io.StringIO(), width=70).width == 70
    console = OutputConsole(file=io.StringIO())
    console.width = 50
    assert console.width == 50


def test_the_docstring_example_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest

    import batchlab.report.console

    monkeypatch.delenv("COLUMNS", raising=False)
    result = doctest.testmod(batchlab.report.console)
    assert result.failed == 0 and result.attempted > 0
