"""One writer per directory: a second holder is refused with the first one's pid; kill -9 frees the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchlab.errors import ConfigError
from batchlab.locking import DirectoryLock

HOLD = (
    "import sys, time; from batchlab.locking import DirectoryLock; "
    "DirectoryLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
)


def hold_in_another_process(directory: Path) -> subprocess.Popen[str]:
    """Start a process that takes the lock of ``directory`` and keeps it (returns once it holds it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_lock_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    holder = hold_in_another_process(tmp_path / "run")
    try:
        with pytest.raises(ConfigError, match=f"run directory .* is in use by process {holder.pid}"):
            DirectoryLock(tmp_path / "run", "run directory").acquire()
    finally:
        holder.kill()
        holder.wait()


def test_sigkill_releases_the_lock(tmp_path: Path) -> None:
    holder = hold_in_another_process(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with DirectoryLock(tmp_path) as lock:
        assert lock.path.read_text().strip() == str(os.getpid())


def test_the_same_process_cannot_take_a_directory_twice_and_release_frees_it(tmp_path: Path) -> None:
    first = DirectoryLock(tmp_path).acquire()
    with pytest.raises(ConfigError, match=f"in use by process {os.getpid()}"):
        DirectoryLock(tmp_path).acquire()
    first.release()
    started = time.perf_counter()
    DirectoryLock(tmp_path).acquire().release()
    assert time.perf_counter() - started < 1  # never waits
