"""Every case of the bad-input catalogue (``scripts/bad_input_cases.py``) gets its expected exit code, no
traceback, no stray output and leaves nothing half-written; the runner itself catches each kind of failure."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))
bad_inputs: Any = importlib.import_module("bad_inputs")
cases: Any = importlib.import_module("bad_input_cases")


@pytest.mark.parametrize("case", cases.CASES, ids=lambda case: f"{case.kind}: {case.name}")
def test_catalogued_bad_input(case: Any) -> None:
    outcome = bad_inputs.run_case(case)
    assert not outcome.traceback, outcome.message
    assert outcome.exit_code == case.exit, outcome.message
    assert not outcome.changed, (outcome.changed, outcome.message)
    assert not outcome.stray, outcome.stray
    assert not outcome.code_ran


def test_the_catalogue_holds_at_least_150_distinct_cases() -> None:
    names = [f"{case.kind}: {case.name}" for case in cases.CASES]
    assert len(names) >= 150
    assert len(set(names)) == len(names)


def _case(prepare: Callable[[Path], list[str]], **options: Any) -> Any:
    return cases.Case("test", "runner check", prepare, **options)


def _config(text: str) -> Callable[[Path], list[str]]:
    def prepare(root: Path) -> list[str]:
        (root / "c.yaml").write_text(text)
        return ["train", "c.yaml", "--run-dir", "run", "-q", "--no-plots"]

    return prepare


def test_the_runner_counts_a_run_that_succeeds_where_an_error_is_expected() -> None:
    outcome = bad_inputs.run_case(_case(_config("data: {source: iris}\nmodel: {hidden: [4]}\ntrain: {max_steps: 1}")))
    assert outcome.exit_code == 0 and outcome.wrong_exit
    assert "run" in outcome.changed  # and what the run wrote counts as left behind


def test_the_runner_counts_a_bug_as_a_wrong_exit_code_and_a_crash_as_a_traceback() -> None:
    def crash(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("a bug")

    def broken_loader() -> Any:
        import contextlib

        from batchlab import api

        @contextlib.contextmanager
        def patched() -> Any:
            original = api.load_config
            api.load_config = crash
            try:
                yield
            finally:
                api.load_config = original

        return patched()

    outcome = bad_inputs.run_case(_case(_config("{}"), fault=broken_loader))
    assert outcome.exit_code == 1 and outcome.wrong_exit
    assert "internal error: ZeroDivisionError: a bug" in outcome.message

    escaped = bad_inputs.run_case(_case(lambda root: ["--debug", "train", "c.yaml"], fault=broken_loader))
    assert escaped.traceback  # --debug lets the exception out


def test_the_runner_finds_temporary_files_left_even_where_changes_are_allowed(tmp_path: Path) -> None:
    def leave_a_temporary_file(root: Path) -> list[str]:
        (root / "c.yaml").write_text("{}")
        return ["train", "c.yaml", "--set", "train.batch_size=0"]

    def fault() -> Any:
        import contextlib

        @contextlib.contextmanager
        def write_one() -> Any:
            yield
            (Path.cwd() / "run").mkdir()
            (Path.cwd() / "run" / ".model.safetensors.x1.tmp").write_text("half")

        return write_one()

    outcome = bad_inputs.run_case(_case(leave_a_temporary_file, changes=("run",), fault=fault))
    assert outcome.changed == ["run/.model.safetensors.x1.tmp"]
