"""Where a study lives: a journal file by default, or any database URL.

- default: Optuna's :class:`~optuna.storages.JournalStorage` on a
  :class:`~optuna.storages.journal.JournalFileBackend` at ``STUDY_DIR/optuna.journal``. Each change is
  one appended line, so several processes can write at once (SQLite would lock under parallel
  writers) and a killed process leaves every earlier line intact. batchlab locks the file with
  ``flock`` on ``STUDY_DIR/optuna.journal.flock`` rather than Optuna's default symlink lock, whose lock
  file outlives a ``kill -9`` and then stalls the other writers for 30 s. The flock file is not named
  ``optuna.journal.lock``, the name of Optuna's own lock files: a program that writes to the journal
  through them (``optuna-dashboard`` saving a note, ``optuna.load_study``) would take batchlab's permanent
  file for a held lock, wait 30 s at each write and then delete it. Reading a journal takes no lock.
- ``--storage PATH`` (no ``://``): a journal file at PATH.
- ``--storage URL`` (``sqlite:///study.db``, ``postgresql://user:pw@host/db``, ...): Optuna's
  :class:`~optuna.storages.RDBStorage` with a heartbeat every 10 s; a trial whose worker has sent none
  for 60 s -- on any machine -- is failed and queued again (see :mod:`batchlab.tune.recovery`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batchlab.errors import ConfigError
from batchlab.tune.gate import FileGate, Gate, NoGate, PostgresGate

if TYPE_CHECKING:
    import optuna

__all__ = ["HEARTBEAT_SECONDS", "JOURNAL_NAME", "StudyStorage", "open_storage", "public_url"]

JOURNAL_NAME = "optuna.journal"
FLOCK_SUFFIX = ".flock"
"""batchlab's lock file of a journal is ``JOURNAL.flock`` (Optuna's own file locks use ``JOURNAL.lock``)."""
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


@dataclass
class StudyStorage:
    """An opened storage and the gate that goes with it.

    Attributes:
        storage: the Optuna storage object, for ``create_study`` / ``load_study``.
        url: where the study is, for people (a file path, or the URL without its password).
        kind: ``journal`` or ``rdb``.
        gate_target: the lock file (file storages) or database URL (PostgreSQL) the gate uses.
    """

    storage: optuna.storages.BaseStorage
    url: str
    kind: str
    gate_target: str | None = None
    dialect: str | None = None

    def gate(self, study_name: str) -> Gate:
        """A new admission gate for this storage (one per worker process)."""
        if self.gate_target is None:
            return NoGate()
        if self.dialect == "postgresql":
            return PostgresGate(self.gate_target, study_name)
        return FileGate(self.gate_target)


def open_storage(target: str | None, study_dir: str | Path) -> StudyStorage:
    """Open the storage named by ``--storage`` (``None``: the journal file in ``study_dir``).

    Raises:
        ConfigError: the database cannot be reached or its URL is malformed (one line, no password).
    """
    if target is None or "://" not in target:
        path = Path(target) if target is not None else Path(study_dir) / JOURNAL_NAME
        return _journal(path)
    return _database(target)


def public_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL SQLAlchemy cannot parse: shown without what precedes '@'
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


def _journal(path: Path) -> StudyStorage:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from batchlab.tune.journal_repair import repair_journal

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_journal(path)
        backend = JournalFileBackend(str(path), lock_obj=_flock_journal_lock(path))
    except OSError as exc:
        raise ConfigError(f"--storage {path}: cannot create the journal file ({exc.strerror})") from None
    storage = optuna.storages.JournalStorage(backend)
    return StudyStorage(storage, str(path), "journal", gate_target=str(path) + ".gate")


def _database(url: str) -> StudyStorage:
    import optuna
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    from batchlab.tune.recovery import retry_trial

    shown = public_url(url)
    try:
        dialect = make_url(url).get_backend_name()
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(
            f"--storage {shown}: not a database URL (e.g. sqlite:///study.db, postgresql://...)"
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=retry_trial,
            )
    except ImportError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        driver = getattr(cause, "name", None) or "for this URL"
        raise ConfigError(f"--storage {shown}: the database driver {driver} is not installed") from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
        raise ConfigError(f"--storage {shown}: cannot open the database: {_first_line(exc)}") from None
    gate_target: str | None = None
    if dialect == "sqlite":
        database = make_url(url).database
        gate_target = f"{database}.gate" if database and database != ":memory:" else None
    elif dialect == "postgresql":
        gate_target = url
    return StudyStorage(storage, shown, "rdb", gate_target=gate_target, dialect=dialect)


def _flock_journal_lock(path: Path) -> optuna.storages.journal.JournalFileOpenLock:
    """A journal lock that ``flock``s ``PATH.flock``; the kernel drops it when its process dies.

    Another program's writes through Optuna's file locks (``PATH.lock``) are not excluded by it; they are
    appends of whole lines (one ``write`` each, ``O_APPEND``), as are batchlab's, so a line is never cut.
    """
    from optuna.storages.journal import JournalFileOpenLock

    class FlockLock(JournalFileOpenLock):
        # JournalFileBackend only calls acquire() and release(); the base class is for its type.
        def __init__(self, lock_path: Path) -> None:
            self._gate = FileGate(lock_path)

        def acquire(self) -> bool:
            self._gate.acquire()
            return True

        def release(self) -> None:
            self._gate.release()

    return FlockLock(Path(str(path) + FLOCK_SUFFIX))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
