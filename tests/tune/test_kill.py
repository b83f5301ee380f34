"""kill -9 of a whole study (main process, fork server and workers) loses no finished trial on resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from batchlab.tune.recovery import counted_trials
from batchlab.tune.storage import open_storage
from tests.tune.conftest import write_yaml

pytestmark = pytest.mark.slow

TRIALS = 6


def _study(study_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="slow-random", storage=open_storage(None, study_dir).storage)


def _wait_for(study_dir: Path, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Until two trials are complete and another runs (the moment to kill)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "the study ended before it could be killed"
        if (study_dir / "optuna.journal").exists():
            try:
                trials = _study(study_dir).get_trials()
            except KeyError:  # the study is being created
                trials = []
            states = [t.state for t in trials]
            if states.count(TrialState.COMPLETE) >= 2 and TrialState.RUNNING in states:
                return
        time.sleep(0.05)
    raise AssertionError("no trial finished in time")


def test_resume_after_kill_9_keeps_every_finished_trial_and_reruns_the_interrupted_ones(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path / "slow.yaml",
        "data: {source: iris}\nmodel: {hidden: [16]}\n"
        "train: {batch_size: 8, epochs: 60, threads: 1, early_stopping: {enabled: false}}\n",
    )
    space = write_yaml(tmp_path / "space.yaml", "train.optimizer.lr: {log_uniform: [1e-3, 1e-1]}\n")
    study_dir = tmp_path / "study"
    command = [sys.executable, "-m", "batchlab", "tune", str(config), "--space", str(space), "--method", "random"]
    command += ["--trials", str(TRIALS), "--workers", "2", "--study-dir", str(study_dir), "--quiet"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with open(tmp_path / "first.log", "wb") as log:
        first = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_for(study_dir, first)
        finally:
            os.killpg(first.pid, signal.SIGKILL)  # the whole study: main process, fork server, workers
            first.wait()
    before = {t.number: t for t in _study(study_dir).get_trials()}
    complete = {n: (t.params, t.value) for n, t in before.items() if t.state == TrialState.COMPLETE}
    running = [n for n, t in before.items() if t.state == TrialState.RUNNING]
    assert len(complete) >= 2 and running

    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Resuming study slow-random" not in again.stdout  # --quiet
    after = {t.number: t for t in _study(study_dir).get_trials()}
    for number, (params, value) in complete.items():
        assert after[number].state == TrialState.COMPLETE
        assert (after[number].params, after[number].value) == (params, value)
    for number in running:
        assert after[number].state == TrialState.FAIL
        assert after[number].user_attrs["interrupted"] is True
        retries = [t for t in after.values() if number in t.system_attrs.get("retry_history", [])]
        assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
        assert retries[0].params == {**before[number].params, **retries[0].params}  # what was sampled, kept
    counted = counted_trials(after.values())
    assert len(counted) == TRIALS and all(t.state == TrialState.COMPLETE for t in counted)
