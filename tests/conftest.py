"""Shared fixtures: the real datasets folder, a CLI runner, one torch thread per test worker."""

from __future__ import annotations

import os

# Tests run in two parallel workers on two cores: one thread each avoids oversubscription. Set before
# torch is imported so that subprocesses (CLI end-to-end tests) inherit it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets folder {SHARED_DATA} is absent (it sits beside the repo on dev and CI machines)")
    return SHARED_DATA


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_batchlab(*args: str, cwd: Path, timeout: float = 600) -> CliResult:
    """Run ``python -m batchlab ARGS`` in a fresh process in ``cwd`` and capture its output."""
    env = {**os.environ, "COLUMNS": "160", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-m", "batchlab", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def batchlab_cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run ``python -m batchlab ARGS`` in a fresh process, in ``tmp_path``, and capture its output."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 600) -> CliResult:
        return run_batchlab(*args, cwd=cwd or tmp_path, timeout=timeout)

    return run


# ------------------------------------------------------------------------------ slices of real text


def _real_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"real dataset {path} is absent (it sits beside the repo on dev and CI machines)")
    return path


SMS_SLICE_ROWS = 600
"""Messages in the SMS slice (the file's first rows: about 13% spam, as in the whole file)."""
SHAKESPEARE_SLICE_CHARS = 24_000
"""Characters in the Tiny Shakespeare slice (the first scenes of Coriolanus)."""


@pytest.fixture(scope="session")
def sms_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first messages of the SMS Spam Collection, as the header-less TSV file it is."""
    source = _real_file("sms-spam", "SMSSpamCollection")
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:SMS_SLICE_ROWS]
    path = tmp_path_factory.mktemp("sms") / "sms.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def shakespeare_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first characters of Tiny Shakespeare, as a ``.txt`` corpus."""
    source = _real_file("tinyshakespeare", "input.txt")
    path = tmp_path_factory.mktemp("shakespeare") / "shakespeare.txt"
    path.write_text(source.read_text(encoding="utf-8")[:SHAKESPEARE_SLICE_CHARS], encoding="utf-8")
    return path
