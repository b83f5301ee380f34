"""The pruning callback reports the metric per epoch and stops training through the loop's stop flag."""

from __future__ import annotations

from typing import Any

from batchlab.train.state import LoopState
from batchlab.tune.pruning import TrialPruning


class FakeTrial:
    def __init__(self, prune_at: int) -> None:
        self.reports: list[tuple[float, int]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return self.reports[-1][1] >= self.prune_at


def _evaluate(callback: TrialPruning, state: LoopState, **logs: Any) -> None:
    callback.on_evaluate(state, {"epoch": state.epoch, "step": state.step, **logs})


def test_it_reports_each_epoch_and_requests_a_stop_when_pruned() -> None:
    trial = FakeTrial(prune_at=2)
    callback = TrialPruning(trial, "val_accuracy")  # type: ignore[arg-type]
    state = LoopState()
    for epoch in (1, 2):
        state.epoch, state.step = epoch, 10 * epoch
        _evaluate(callback, state, val_accuracy=0.5 + epoch / 10)
    assert trial.reports == [(0.6, 1), (0.7, 2)]
    assert state.stop and callback.pruned_at == 2
    assert state.stop_reason == "pruned by the study at epoch 2 (val_accuracy 0.7)"


def test_missing_or_non_finite_values_are_not_reported() -> None:
    trial = FakeTrial(prune_at=1)
    callback = TrialPruning(trial, "val_loss", per_step=True)  # type: ignore[arg-type]
    state = LoopState()
    _evaluate(callback, state, val_accuracy=0.9)
    _evaluate(callback, state, val_loss=float("nan"))
    assert trial.reports == [] and not state.stop
