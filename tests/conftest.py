"""Shared fixtures: the real datasets folder, a CLI runner, one torch thread per test worker."""

from __future__ import annotations

import os
import signal

# Tests run in two parallel workers on two cores: one thread each avoids oversubscription. Set before
# torch is imported so that subprocesses (CLI end-to-end tests) inherit it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _sigint_restored() -> Iterator[None]:
    """A command run in-process that ends on an interrupt ignores further Ctrl-C (as a finishing process
    should); the test process, and every process it starts afterwards, must get Python's handler back."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


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
    # This checkout's sources, whatever the working directory (a relative PYTHONPATH would not resolve).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)
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


FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
"""The six speakers of the Free Spoken Digit Dataset in ``../shared/data/fsdd/recordings``."""


@pytest.fixture
def fsdd_subset(shared_data: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``make(speakers=("george", "jackson"), takes=range(5, 10), digits=range(10), folder="recordings")``:
    copy that part of FSDD (``{digit}_{speaker}_{take}.wav``; takes 5 to 49 are there) into
    ``tmp_path / folder`` and return it."""
    import shutil

    source = shared_data / "fsdd" / "recordings"
    if not source.is_dir():
        pytest.skip(f"{source} is absent")

    def make(
        speakers: tuple[str, ...] = FSDD_SPEAKERS[:2],
        takes: range = range(5, 10),
        digits: range = range(10),
        folder: str = "recordings",
    ) -> Path:
        target = tmp_path / folder
        target.mkdir(parents=True, exist_ok=True)
        for digit in digits:
            for speaker in speakers:
                for take in takes:
                    shutil.copyfile(source / f"{digit}_{speaker}_{take}.wav", target / f"{digit}_{speaker}_{take}.wav")
        return target

    return make


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
