"""One writer per directory: an exclusive lock on a file inside it, held while a process writes there.

The lock is ``fcntl.flock`` on ``DIR/.lock``. The kernel releases it when the holding process ends in
any way, ``kill -9`` included, so a stale lock never blocks the next run; the file itself stays behind
(empty of meaning once no process holds it). The holder writes its process id into the file, so that a
second process can say who holds the directory.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

from batchlab.errors import ConfigError

__all__ = ["LOCK_FILE", "DirectoryLock"]

LOCK_FILE = ".lock"


class DirectoryLock:
    """An exclusive, non-blocking lock on ``directory`` (created if missing).

    Args:
        directory: the run, study or tuning directory.
        what: how the directory is named in the error, e.g. ``"run directory"``.

    Raises:
        ConfigError: on :meth:`acquire`, when another process holds the lock (the message names its pid).

    Example:
        >>> with DirectoryLock("runs/a", "run directory"):  # doctest: +SKIP
        ...     ...  # only this process writes into runs/a
    """

    def __init__(self, directory: str | Path, what: str = "directory") -> None:
        self.directory = Path(directory)
        self.what = what
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_FILE

    def acquire(self) -> DirectoryLock:
        """Take the lock now or fail at once (never waits)."""
        import fcntl

        if self._fd is not None:
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            reason = exc.strerror or exc
            raise ConfigError(f"{self.what} {str(self.directory)!r}: cannot write there: {reason}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise ConfigError(
                f"{self.what} {str(self.directory)!r} is in use by {who}; wait for it to end "
                "(one process at a time writes a directory)"
            ) from None
        except OSError:
            os.close(fd)  # a file system without locks: go on unlocked rather than refuse to work
            return self
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
