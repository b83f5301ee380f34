"""The admission gate: one worker at a time decides whether another trial may start, and starts it.

Optuna's ``n_trials`` counts the trials of one process, and its ``MaxTrialsCallback`` checks the count
after a trial ends, so N workers sharing a study overshoot a budget by up to N - 1 trials. batchlab
instead holds a lock across "count the study's trials, ask for a new one, record its worker and
parameters", which makes the count exact and keeps two workers from taking the same grid point:

- a file storage (the default journal file, or SQLite) locks a file beside it with ``flock``, which the
  kernel releases when the process dies, even by ``kill -9``;
- PostgreSQL uses a session-level advisory lock, released when the worker's connection closes;
- other databases have no gate: workers on them may overshoot the budget by up to one trial each.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FileGate", "Gate", "NoGate", "PostgresGate"]


class Gate:
    """A lock held while a worker admits and starts one trial.

    ``release`` may come early (the trial's objective releases the gate as soon as the trial has its
    parameters) and is idempotent, so ``with gate:`` is safe around the whole trial.

    Attributes:
        exclusive: whether holding the gate excludes every other worker of the study (not so for
            :class:`NoGate`); only then is a RUNNING trial without a recorded worker known to be dead.
    """

    exclusive = True

    def __init__(self) -> None:
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this worker holds the gate now."""
        return self._held

    def acquire(self) -> None:
        """Block until the gate is ours."""
        self._lock()
        self._held = True

    def release(self) -> None:
        """Let the next worker in (no-op when not held)."""
        if self._held:
            self._held = False
            self._unlock()

    def close(self) -> None:
        """Release and free the gate's resources."""
        self.release()

    def __enter__(self) -> Gate:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def _lock(self) -> None:
        raise NotImplementedError

    def _unlock(self) -> None:
        raise NotImplementedError


class NoGate(Gate):
    """No lock: for databases without a cross-machine lock batchlab knows how to take."""

    exclusive = False

    def _lock(self) -> None:
        pass

    def _unlock(self) -> None:
        pass


class FileGate(Gate):
    """An exclusive ``flock`` on ``path`` (created if missing)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._fd: int | None = None

    def _lock(self) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def _unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        super().close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PostgresGate(Gate):
    """A PostgreSQL session-level advisory lock keyed by the study name.

    Args:
        url: the SQLAlchemy URL of the database.
        name: the study name; workers of other studies in the same database do not wait for this one.
    """

    def __init__(self, url: str, name: str) -> None:
        super().__init__()
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        self._key = int.from_bytes(hashlib.sha256(f"batchlab-tune:{name}".encode()).digest()[:8], "big", signed=True)
        self._engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        self._connection: Any = None
        self._sql = sqlalchemy.text

    def _lock(self) -> None:
        if self._connection is None:
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._connection.execute(self._sql("SELECT pg_advisory_lock(:key)"), {"key": self._key})

    def _unlock(self) -> None:
        if self._connection is not None:
            self._connection.execute(self._sql("SELECT pg_advisory_unlock(:key)"), {"key": self._key})

    def close(self) -> None:
        super().close()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()
