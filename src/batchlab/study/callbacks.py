"""Callbacks a study adds to each run: a clock of training time without evaluation, and a stop at the target."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.study.targets import Target
    from batchlab.train.state import LoopState

__all__ = ["StopAtTarget", "StudyClock"]


class StudyClock(Callback):
    """Records every metrics row together with ``train_seconds``: seconds of training without evaluation.

    The rows' own ``seconds`` include validation, whose cost depends on how often a cell evaluates (more
    often at small batch sizes); ``train_seconds`` counts only the time from the end of one evaluation (or
    the start) to each optimizer step, so cells compare fairly.

    Attributes:
        rows: a copy of each metrics row, plus ``train_seconds``.
        train_seconds: training seconds so far.
        eval_seconds: seconds spent from the last step before each evaluation to its end.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self._mark = time.perf_counter()

    def on_train_begin(self, state: LoopState) -> None:
        self._mark = time.perf_counter()

    def on_step_end(self, state: LoopState) -> None:
        now = time.perf_counter()
        self.train_seconds += now - self._mark
        self._mark = now

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        now = time.perf_counter()
        self.eval_seconds += now - self._mark
        self.rows.append({**logs, "train_seconds": round(self.train_seconds, 6)})
        self._mark = now


class StopAtTarget(Callback):
    """Stops the run at the first evaluation that meets ``target`` (saves time when only the target matters)."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        value = logs.get(self.target.metric)
        if value is not None and self.target.reached(float(value)):
            state.request_stop(f"reached the target {self.target} at step {state.step}")
