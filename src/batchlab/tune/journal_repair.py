"""Check a study's journal file before Optuna reads it; cut a torn tail, as a write-ahead log does.

The journal holds one JSON record per line, appended under a lock and fsynced. A process killed in the
middle of an append leaves a partial last record; Optuna then appends the next record after it, and the
file no longer parses from that line on. :func:`repair_journal` removes such a tail (records that do
not parse, with nothing valid after them) with a warning naming the bytes removed. A record that does
not parse *before* valid ones is damage in the middle: nothing is changed, and the message says exactly
which line it is and how to cut the file there.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from batchlab.errors import ConfigError
from batchlab.tune.gate import FileGate

__all__ = ["repair_journal"]

log = logging.getLogger(__name__)


def repair_journal(path: Path) -> int:
    """Remove a torn tail of the journal at ``path`` (under the journal's ``PATH.flock``); returns the bytes removed.

    The lock is batchlab's journal lock (see :mod:`batchlab.tune.storage`), not ``PATH.lock``: a file of that
    name is what Optuna's own journal lock takes, and one left there makes every Optuna writer wait 30 s.

    Raises:
        ConfigError: a line before the last valid record is not a record (the file is damaged in the middle).
    """
    if not path.is_file():
        return 0
    gate = FileGate(Path(str(path) + ".flock"))
    gate.acquire()
    try:
        data = path.read_bytes()
        good_end, bad_start, bad_line = _scan(data)
        if bad_start is None:
            return 0
        if good_end > bad_start:
            records = bad_line - 1
            raise ConfigError(
                f"study journal {str(path)!r}: line {bad_line} (byte {bad_start}) is not a journal record, and valid "
                f"records follow it, so the study cannot be read past it; to keep the first {records} records, cut "
                f"the file there with `truncate -s {bad_start} {path}` (the trials recorded after it are lost), "
                "or restore the file from a backup"
            )
        removed = len(data) - bad_start
        with open(path, "r+b") as handle:
            handle.truncate(bad_start)
            handle.flush()
            os.fsync(handle.fileno())
        log.warning(
            "study journal %s: removed %d bytes after its last complete record (line %d on), left by a process "
            "that stopped while writing; the study goes on from the records before",
            path,
            removed,
            bad_line,
        )
        return removed
    finally:
        gate.release()


def _scan(data: bytes) -> tuple[int, int | None, int]:
    """``(end of the last valid record, start of the first invalid line or None, its 1-based line number)``."""
    good_end, bad_start, bad_line = 0, None, 0
    offset = 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        complete = line.endswith(b"\n")
        valid = complete and _is_record(line)
        if valid:
            good_end = offset + len(line)
        elif bad_start is None:
            bad_start, bad_line = offset, number
        offset += len(line)
    return good_end, bad_start, bad_line


def _is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # not JSON, or not UTF-8
        return False
