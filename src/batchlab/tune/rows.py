"""A study's trials as plain rows: for the live table, ``trials.csv`` and ``batchlab report``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batchlab.tune.recovery import superseded
from batchlab.tune.space import SearchSpace

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = ["TrialRow", "best_row", "show_value", "trial_rows"]


@dataclass
class TrialRow:
    """One trial, ready to show.

    Attributes:
        number: the trial number (its run is ``trials/<number>``).
        state: ``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``, or ``INTERRUPTED`` for a
            trial whose worker died or was stopped and which was queued again.
        value: the metric (the best over epochs; for a pruned trial the last reported value).
        params: config values by dotted path.
        seconds: wall time from start to end (running: so far), in seconds.
        note: why it failed, where it was pruned, or which trial retries it.
        epochs: epochs trained.
        best_epoch: the epoch of the best value.
        run_dir: the trial's run directory.
        worker: ``host:pid`` of the process that ran it.
        started: start time, ISO 8601.
        finished: end time, ISO 8601.
    """

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    seconds: float | None
    note: str = ""
    epochs: int | None = None
    best_epoch: int | None = None
    run_dir: str | None = None
    worker: str | None = None
    started: str | None = None
    finished: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_finished(self) -> bool:
        """Whether the trial has ended (in any way)."""
        return self.state in ("COMPLETE", "PRUNED", "FAIL", "INTERRUPTED")


def trial_rows(trials: Iterable[FrozenTrial], space: SearchSpace, now: float | None = None) -> list[TrialRow]:
    """Rows for ``trials``, in trial-number order.

    Args:
        trials: the study's trials.
        space: the search space (to show choice values as the config has them).
        now: ``time.time()``, for the duration of running trials (``None``: not shown).
    """
    trials = list(trials)
    replaced = superseded(trials)
    retry_of: dict[int, int] = {}
    for trial in trials:
        history = trial.system_attrs.get("retry_history", [])
        if history:
            retry_of[history[-1]] = trial.number
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        state = trial.state.name
        note = str(trial.user_attrs.get("fail_reason") or "")
        if state == "FAIL" and trial.number in replaced:
            state = "INTERRUPTED"
            note = note or "interrupted: its worker stopped sending heartbeats"
            if trial.number in retry_of:
                note += f"; retried as trial {retry_of[trial.number]}"
        elif state == "PRUNED":
            step = trial.last_step
            note = f"pruned at epoch {step}" if step is not None else "pruned"
        seconds = None
        if trial.datetime_start is not None:
            end = trial.datetime_complete
            if end is not None:
                seconds = (end - trial.datetime_start).total_seconds()
            elif now is not None and state == "RUNNING":
                seconds = now - trial.datetime_start.timestamp()  # Optuna's times are naive local times
        owner = trial.user_attrs.get("worker")
        rows.append(
            TrialRow(
                number=trial.number,
                state=state,
                value=trial.value if state in ("COMPLETE", "PRUNED") else None,
                params=space.decode(trial.params),
                seconds=seconds,
                note=note,
                epochs=trial.user_attrs.get("epochs"),
                best_epoch=trial.user_attrs.get("best_epoch"),
                run_dir=trial.user_attrs.get("run_dir"),
                worker=f"{owner['host']}:{owner['pid']}" if isinstance(owner, dict) and "pid" in owner else None,
                started=trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
                finished=trial.datetime_complete.isoformat(timespec="seconds") if trial.datetime_complete else None,
            )
        )
    return rows


def best_row(rows: Sequence[TrialRow], direction: str) -> TrialRow | None:
    """The complete trial with the best value (the lowest number among equals), or ``None``."""
    complete = [r for r in rows if r.state == "COMPLETE" and r.value is not None]
    if not complete:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(complete, key=lambda r: (sign * float(r.value or 0.0), r.number))


def show_value(value: Any) -> str:
    """A parameter value for a table cell: floats to 4 significant digits, lists as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
