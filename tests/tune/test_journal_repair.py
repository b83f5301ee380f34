"""A torn tail of a study journal is cut with a warning; damage in the middle is refused with the fix."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from batchlab.errors import ConfigError
from batchlab.tune.journal_repair import repair_journal

RECORDS = [{"op_code": 0, "worker_id": "w", "study_name": "s"}, {"op_code": 4, "worker_id": "w", "trial_id": 0}]
GOOD = b"".join(json.dumps(r).encode() + b"\n" for r in RECORDS)


def _journal(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "optuna.journal"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "tail",
    [b'{"op_code": 5, "work', b"\x8f\x00\xff random", b"not json\n", b"\x01\x02\nmore garbage\n\xff"],
)
def test_a_torn_or_garbage_tail_is_cut_with_a_warning(
    tmp_path: Path, tail: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = _journal(tmp_path, GOOD + tail)
    with caplog.at_level(logging.WARNING):
        removed = repair_journal(path)
    assert removed == len(tail)
    assert path.read_bytes() == GOOD
    assert f"removed {len(tail)} bytes" in caplog.text


def test_a_sound_journal_is_left_as_it_is(tmp_path: Path) -> None:
    path = _journal(tmp_path, GOOD)
    assert repair_journal(path) == 0 and path.read_bytes() == GOOD


def test_damage_before_valid_records_is_refused_with_the_command_that_cuts_it(tmp_path: Path) -> None:
    first = json.dumps(RECORDS[0]).encode() + b"\n"
    path = _journal(tmp_path, first + b"\x8fgarbage\n" + json.dumps(RECORDS[1]).encode() + b"\n")
    with pytest.raises(ConfigError, match=rf"line 2 \(byte {len(first)}\).*truncate -s {len(first)} "):
        repair_journal(path)
    assert b"garbage" in path.read_bytes()  # nothing changed


def test_a_missing_journal_is_nothing_to_repair(tmp_path: Path) -> None:
    assert repair_journal(tmp_path / "optuna.journal") == 0
