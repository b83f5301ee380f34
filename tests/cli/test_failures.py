"""Errors that are not BatchlabErrors: the disk's are one line with exit 2, bugs one line with exit 1."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchlab.cli import app
from batchlab.cli.app import set_debug
from batchlab.cli.failures import describe_unexpected


def test_a_full_disk_names_the_file_and_says_how_to_go_on() -> None:
    code, line = describe_unexpected(OSError(errno.ENOSPC, "No space left on device", "runs/a/model.safetensors"))
    assert code == 2
    assert line.startswith("batchlab: error: 'runs/a/model.safetensors': No space left on device; free some space")


def test_a_full_disk_reported_by_safetensors_is_a_full_disk() -> None:
    from safetensors import SafetensorError

    error = SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "x" })')
    code, line = describe_unexpected(error)
    assert code == 2 and "No space left on device" in line


def test_a_bug_is_one_line_with_exit_1_that_points_at_debug() -> None:
    code, line = describe_unexpected(ZeroDivisionError("division by zero"))
    assert code == 1
    assert line == (
        "batchlab: internal error: ZeroDivisionError: division by zero "
        "(a bug in batchlab; run with --debug for the traceback and please report it)"
    )


@pytest.fixture
def broken_datasets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import batchlab.report.tables as tables

    def crash() -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(tables, "datasets_table", crash)
    yield
    set_debug(False)


def test_the_cli_prints_one_line_for_a_bug_and_the_traceback_with_debug(broken_datasets: None, tmp_path: Path) -> None:
    plain = CliRunner().invoke(app, ["datasets"])
    assert plain.exit_code == 1
    assert plain.stderr.strip().splitlines() == [
        "batchlab: internal error: ZeroDivisionError: division by zero "
        "(a bug in batchlab; run with --debug for the traceback and please report it)"
    ]
    debug = CliRunner().invoke(app, ["--debug", "datasets"])
    assert isinstance(debug.exception, ZeroDivisionError)  # let through: the runner shows its traceback
