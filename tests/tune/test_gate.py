"""The file gate excludes other processes, is released early without harm, and dies with its process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from batchlab.tune.gate import FileGate

_TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
sys.exit(0)
"""


def _free(path: Path) -> bool:
    return subprocess.run([sys.executable, "-c", _TRY, str(path)], check=False).returncode == 0


def test_the_gate_excludes_other_processes_until_released(tmp_path: Path) -> None:
    gate = FileGate(tmp_path / "study.gate")
    with gate:
        assert gate.held
        assert not _free(gate.path)
        gate.release()  # the objective releases early ...
        assert _free(gate.path)
    assert not gate.held  # ... and the with block's release is a no-op
    gate.close()


def test_a_killed_holder_releases_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "study.gate"
    hold = f"from batchlab.tune.gate import FileGate; import time; FileGate({str(path)!r}).acquire()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold + "; print('in', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "in"
    assert not _free(path)
    holder.kill()
    holder.wait()
    assert _free(path)
