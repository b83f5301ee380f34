"""Trials of dead workers: fail them, queue them again, and leave them out of the budget.

A worker killed in the middle of a trial (``kill -9``, a crash, a reboot, a lost machine) leaves that
trial RUNNING forever, and a trial stopped by Ctrl-C ends FAIL although nothing was wrong with it.
Optuna's answer for databases is the heartbeat: :func:`optuna.storages.fail_stale_trials` fails a
RUNNING trial whose worker stopped beating, and a retry callback queues a copy (``WAITING``, same
parameters, same grid point, ``retry_history`` naming the original). The journal file has no
heartbeat, so batchlab adds the missing half: each trial records its worker (:class:`Owner`), and
before admitting a trial a worker fails every RUNNING trial whose process is gone from this machine,
then queues it the same way. Trials interrupted by Ctrl-C are marked ``interrupted`` and queued too.

An interrupted trial that was queued again is *superseded*: it stays in the study (with its reason)
but counts neither toward ``--trials`` nor as a failure. A trial interrupted on its third attempt is not
queued again and counts as failed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from batchlab.tune.owner import Owner

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["MAX_ATTEMPTS", "counted_trials", "recover_trials", "retry_trial", "superseded"]

MAX_ATTEMPTS = 3


def superseded(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the trials replaced by a retry (or about to be: interrupted and not out of attempts)."""
    trials = list(trials)
    replaced = {number for t in trials for number in t.system_attrs.get("retry_history", [])}
    for t in trials:
        if t.user_attrs.get("interrupted") and _attempts(t) < MAX_ATTEMPTS:
            replaced.add(t.number)
    return replaced


def counted_trials(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count toward ``--trials``: running or finished, and not superseded."""
    from optuna.trial import TrialState

    trials = list(trials)
    replaced = superseded(trials)
    states = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [t for t in trials if t.state in states and t.number not in replaced]


def recover_trials(study: optuna.Study, *, exclusive: bool) -> list[int]:
    """Fail the RUNNING trials of dead workers on this machine and queue every interrupted trial again.

    Call it while holding the study's gate (:mod:`batchlab.tune.gate`).

    Args:
        study: the study.
        exclusive: whether the gate excludes all other workers; then a RUNNING trial that has no worker
            recorded was left by a worker that died while admitting it.

    Returns:
        The numbers of the trials that were failed here.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    # Failing another process's trial needs the storage itself, as in Optuna's fail_stale_trials.
    storage = study._storage
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = Owner.from_attr(trial.user_attrs.get("worker"))
        if owner is None:
            if not exclusive:
                continue
            reason = "interrupted: its worker died while starting it"
        elif not owner.is_on_this_machine() or owner.is_alive():
            continue
        else:
            reason = f"interrupted: its worker {owner} is gone (killed or crashed)"
        try:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # it finished, or another worker failed it first
            continue
        failed.append(trial.number)
    trials = study.get_trials(deepcopy=False)
    retried = {number for t in trials for number in t.system_attrs.get("retry_history", [])}
    for trial in trials:
        queued_again = trial.number in retried
        if trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted") and not queued_again:
            retry_trial(study, trial)
    return failed


def retry_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a copy of ``trial`` (same parameters and grid point) unless it is out of attempts.

    Also the heartbeat callback of database storages, for trials failed by
    :func:`optuna.storages.fail_stale_trials`.
    """
    import optuna

    if _attempts(trial) >= MAX_ATTEMPTS:
        return
    system_attrs: dict[str, Any] = {
        **trial.system_attrs,
        "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
        "retry_history": [*trial.system_attrs.get("retry_history", []), trial.number],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING,
                params=trial.params,
                distributions=trial.distributions,
                system_attrs=system_attrs,
            )
        )


def _attempts(trial: FrozenTrial) -> int:
    """1 for a first attempt, 2 for its first retry, ..."""
    return len(trial.system_attrs.get("retry_history", [])) + 1
