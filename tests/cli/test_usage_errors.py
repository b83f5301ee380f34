"""A mistake on the command line itself (unknown command or option, bad or missing value) is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# `click` made unimportable: typer carries its own copy, and batchlab does not depend on click.
_PROBE = """
import sys
sys.modules["click"] = None
sys.argv = ["batchlab", *sys.argv[1:]]
from batchlab.cli import main
main()
"""


def _batchlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["study", "sweep", "config.yaml"],
            "batchlab: error: study: No such command 'sweep'. Commands: batch-size, noise-scale, max-batch, "
            "lr-vs-batch.",
        ),
        (["stdy"], "batchlab: error: No such command 'stdy'. Did you mean 'study'? Commands: train, evaluate,"),
        (
            ["train", "--resum", "runs/x"],
            "batchlab: error: train: No such option: --resum (Possible options: --resume)",
        ),
        (["train", "config.yaml", "--nproc", "two"], "batchlab: error: train: Invalid value for '--nproc'"),
        (["report"], "batchlab: error: report: Missing argument 'path'. (see 'batchlab report --help')"),
        (["datasets", "extra"], "batchlab: error: datasets: Got unexpected extra argument(s) (extra)"),
    ],
)
def test_a_command_line_mistake_is_one_line_with_exit_code_2(tmp_path: Path, args: list[str], expected: str) -> None:
    done = _batchlab(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(expected), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # no usage block, no boxed panel
    assert done.stdout == ""


def test_help_and_exit_codes_are_unchanged(tmp_path: Path) -> None:
    alone = _batchlab("study", cwd=tmp_path)  # a group without its command shows its help, as before
    assert alone.returncode == 2 and "batch-size" in alone.stdout + alone.stderr
    assert _batchlab("datasets", cwd=tmp_path).returncode == 0
    missing = _batchlab("train", "missing.yaml", cwd=tmp_path)  # a command's own error keeps its line and code
    assert (
        missing.returncode == 2 and missing.stderr.startswith("batchlab: error: ") and "missing.yaml" in missing.stderr
    )
