"""Under torchrun, a worker leaves without interpreter finalization but with its output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# An atexit handler stands for everything finalization would run (the gloo and DDP teardown among it).
_PROBE = """
import atexit, sys
atexit.register(lambda: print("finalized", file=sys.stderr))
sys.argv = ["batchlab", *sys.argv[1:]]
from batchlab.cli import main
main()
"""


def _run(*args: str, cwd: Path, worker: bool) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("WORLD_SIZE", "LOCAL_RANK")}
    if worker:
        env.update(WORLD_SIZE="2", LOCAL_RANK="1", RANK="1")
    return subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_worker_skips_finalization_but_keeps_its_output_and_exit_code(tmp_path: Path) -> None:
    alone = _run("datasets", cwd=tmp_path, worker=False)
    assert alone.returncode == 0 and "finalized" in alone.stderr
    worker = _run("datasets", cwd=tmp_path, worker=True)
    assert worker.returncode == 0 and "finalized" not in worker.stderr
    assert worker.stdout == alone.stdout and "digits" in worker.stdout


def test_a_worker_keeps_the_user_error_line_and_code(tmp_path: Path) -> None:
    failed = _run("train", "missing.yaml", cwd=tmp_path, worker=True)
    assert failed.returncode == 2
    assert "missing.yaml" in failed.stderr and "Traceback" not in failed.stderr
    assert "finalized" not in failed.stderr
