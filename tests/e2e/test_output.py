"""What the command line prints when its output is not a terminal (a pipe, a log file, CI)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m batchlab ARGS`` with stdout a pipe, no terminal on stdin and no ``COLUMNS``."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run(
        [sys.executable, "-m", "batchlab", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_tables_in_a_pipe_keep_every_digit(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data: {source: digits}\nmodel: {hidden: [16]}\ntrain: {epochs: 2}\n")
    trained = _piped("train", "c.yaml", "--run-dir", "run", "-q", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    done = _piped("report", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    header = next(line for line in done.stdout.splitlines() if "train_loss" in line)
    for name in rows[0]:
        assert name in header, name  # every column keeps its whole name
    last = next(line for line in done.stdout.splitlines() if line.lstrip().startswith("2 ") and "│" in line)
    assert f"{float(rows[-1]['val_accuracy']):.4g}" in last and f"{float(rows[-1]['train_loss']):.4g}" in last
    assert max(len(line) for line in done.stdout.splitlines()) > 80  # the table is wider than rich's default
