"""Trials of dead workers are failed and queued again; superseded trials leave the budget; the budget is exact."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from batchlab.tune.budget import covered_points, stop_reason
from batchlab.tune.owner import Owner
from batchlab.tune.recovery import MAX_ATTEMPTS, counted_trials, recover_trials, superseded

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def dead_owner() -> dict[str, Any]:
    """The worker record of a process that has exited."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from batchlab.tune.owner import Owner; import json; print(json.dumps(Owner.current().to_attr()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return dict(json.loads(done.stdout))


def _set_x(study: optuna.Study, trial: optuna.trial.Trial, x: float) -> None:
    """Give a trial the parameter ``x`` without a sampler (as a worker's objective would)."""
    study._storage.set_trial_param(trial._trial_id, "x", x, FloatDistribution(0, 1))


def _running(study: optuna.Study, owner: dict[str, Any] | None, x: float = 0.5) -> int:
    trial = study.ask()
    if owner is not None:
        trial.set_user_attr("worker", owner)
    _set_x(study, trial, x)
    return trial.number


def test_a_running_trial_of_a_dead_worker_is_failed_and_queued_again(dead_owner: dict[str, Any]) -> None:
    study = optuna.create_study()
    dead = _running(study, dead_owner, 0.25)
    alive = _running(study, Owner.current().to_attr(), 0.75)
    assert recover_trials(study, exclusive=True) == [dead]
    trials = {t.number: t for t in study.get_trials()}
    assert trials[dead].state == TrialState.FAIL
    assert trials[dead].user_attrs["interrupted"] is True
    assert "is gone (killed or crashed)" in trials[dead].user_attrs["fail_reason"]
    assert trials[alive].state == TrialState.RUNNING
    (retry,) = [t for t in trials.values() if t.state == TrialState.WAITING]
    assert retry.params == {"x": 0.25}
    assert retry.system_attrs["retry_history"] == [dead]
    assert superseded(trials.values()) == {dead}
    assert [t.number for t in counted_trials(trials.values())] == [alive]
    assert recover_trials(study, exclusive=True) == []  # nothing twice
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1


def test_a_running_trial_without_a_worker_is_dead_only_behind_an_exclusive_gate() -> None:
    study = optuna.create_study()
    number = _running(study, None)
    assert recover_trials(study, exclusive=False) == []
    assert recover_trials(study, exclusive=True) == [number]


def test_a_trial_interrupted_by_ctrl_c_is_queued_again_and_leaves_the_budget() -> None:
    study = optuna.create_study()
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("interrupted", True)
    study.tell(trial, state=TrialState.FAIL)
    assert counted_trials(study.get_trials()) == []
    recover_trials(study, exclusive=True)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]


def test_a_trial_interrupted_on_its_last_attempt_counts_as_failed(dead_owner: dict[str, Any]) -> None:
    study = optuna.create_study()
    for _ in range(MAX_ATTEMPTS):
        waiting = study.get_trials(states=(TrialState.WAITING,))
        if waiting:
            trial = study.ask()
            trial.set_user_attr("worker", dead_owner)
        else:
            _running(study, dead_owner)
        recover_trials(study, exclusive=True)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * MAX_ATTEMPTS
    assert [t.number for t in counted_trials(trials)] == [MAX_ATTEMPTS - 1]


def _finished(study: optuna.Study, x: float, state: TrialState = TrialState.COMPLETE) -> None:
    trial = study.ask()
    _set_x(study, trial, x)
    study.tell(trial, 1.0 if state == TrialState.COMPLETE else None, state=state)


def test_the_budget_counts_running_and_finished_trials() -> None:
    study = optuna.create_study()
    _finished(study, 0.1)
    _finished(study, 0.2, TrialState.FAIL)
    _finished(study, 0.3, TrialState.PRUNED)
    study.ask()
    trials = study.get_trials()
    assert stop_reason(trials, budget=5, deadline=None, now=0.0) is None
    assert stop_reason(trials, budget=4, deadline=None, now=0.0) == "the study has its 4 trials"
    assert stop_reason(trials, budget=None, deadline=10.0, now=10.0) == "the time limit was reached"


def test_a_grid_stops_when_every_point_has_a_trial() -> None:
    study = optuna.create_study()
    grid = {"x": [0.1, 0.2]}
    _finished(study, 0.1)
    assert covered_points(study.get_trials(), grid) == {(0.1,)}
    assert stop_reason(study.get_trials(), budget=None, deadline=None, now=0.0, grid=grid) is None
    _finished(study, 0.2, TrialState.FAIL)
    assert "every point of the grid (2)" in str(
        stop_reason(study.get_trials(), budget=None, deadline=None, now=0, grid=grid)
    )
