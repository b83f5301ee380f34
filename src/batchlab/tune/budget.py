"""When a worker stops admitting trials: the budget is spent, the time is up, or the grid is covered."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from batchlab.tune.recovery import counted_trials

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = ["covered_points", "stop_reason"]


def stop_reason(
    trials: Sequence[FrozenTrial],
    *,
    budget: int | None,
    deadline: float | None,
    now: float,
    grid: dict[str, list[Any]] | None = None,
) -> str | None:
    """Why no further trial should start, or ``None`` if one may.

    Args:
        trials: every trial of the study.
        budget: ``--trials``: trials that count (running or finished, not superseded by a retry).
        deadline: wall-clock time (``time.time()``) after which no trial starts.
        now: the current ``time.time()``.
        grid: the grid of a grid search (``{name: values}``); the study ends when every point is taken.
    """
    from optuna.trial import TrialState

    counted = counted_trials(trials)
    if budget is not None and len(counted) >= budget:
        return f"the study has its {budget} trials"
    if deadline is not None and now >= deadline:
        return "the time limit was reached"
    if grid is not None:
        waiting = any(t.state == TrialState.WAITING for t in trials)
        size = 1
        for values in grid.values():
            size *= len(values)
        if not waiting and len(covered_points(counted, grid)) >= size:
            return f"every point of the grid ({size}) has a trial"
    return None


def covered_points(trials: Iterable[FrozenTrial], grid: dict[str, list[Any]]) -> set[tuple[Any, ...]]:
    """Grid points (tuples in ``sorted(grid)`` order) that the given trials hold."""
    names = sorted(grid)
    points = set()
    for trial in trials:
        if all(name in trial.params for name in names):
            points.add(tuple(trial.params[name] for name in names))
    return points
