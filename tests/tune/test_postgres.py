"""Distributed tuning against a real PostgreSQL server: two worker processes, and the trials add up.

The server comes from ``bash scripts/postgres.sh`` (CI runs it before the tests); the URL is
``$BATCHLAB_TEST_POSTGRES_URL`` or the script's default. Without a reachable server the test skips.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from batchlab.tune.recovery import counted_trials
from batchlab.tune.runner import run_study
from tests.tune.conftest import tiny_settings

URL = os.environ.get("BATCHLAB_TEST_POSTGRES_URL", "postgresql://batchlab:batchlab@127.0.0.1:55432/batchlab_test")


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL, or a skip that says how to start one."""
    try:
        import psycopg

        psycopg.connect(URL, connect_timeout=3).close()
    except Exception as exc:  # no driver, no server, wrong password: all mean "not available here"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(
            f"no PostgreSQL server at {URL.split('@')[-1]} ({reason}); start one with: bash scripts/postgres.sh"
        )
    return URL


def test_two_workers_share_a_postgresql_study_and_the_trials_add_up(tmp_path: Path, postgres_url: str) -> None:
    name = f"test-{uuid.uuid4().hex[:12]}"
    space = {"train.optimizer.lr": {"log_uniform": [1e-3, 1e-1]}, "train.batch_size": {"choice": [8, 16]}}
    settings = tiny_settings(tmp_path, space, trials=6, workers=2, storage=postgres_url, study_name=name)
    try:
        outcome = run_study(settings)
        assert outcome.stop == "the study has its 6 trials"
        study = optuna.load_study(study_name=name, storage=postgres_url)
        trials = study.get_trials()
        assert len(trials) == 6 and len(counted_trials(trials)) == 6
        assert all(t.state == TrialState.COMPLETE for t in trials)
        assert sorted(r.number for r in outcome.rows) == list(range(6))
        assert len({r.worker for r in outcome.rows}) == 2  # both processes ran trials
        assert "***" in str(outcome.record["storage"]) and "batchlab:batchlab@" not in str(outcome.record["storage"])

        # A worker joining later (another machine runs the same command) finds the study complete.
        joined = run_study(tiny_settings(tmp_path / "other", space, trials=6, storage=postgres_url, study_name=name))
        assert joined.resumed and joined.stop == "the study has its 6 trials" and len(joined.rows) == 6
    finally:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=postgres_url)
