"""The training callback that reports a trial's validation metric to Optuna and stops pruned trials."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from batchlab.train.callbacks import Callback

if TYPE_CHECKING:
    import optuna

    from batchlab.train.state import LoopState

__all__ = ["TrialPruning"]


class TrialPruning(Callback):
    """Report ``logs[metric]`` at each evaluation; stop training when the study's pruner says so.

    The step is the epoch (1-based), or the optimizer step when the config validates every N steps.
    Training is stopped with ``state.request_stop``; the objective then marks the trial pruned.

    Args:
        trial: the running Optuna trial.
        metric: the metric name, e.g. ``val_accuracy``.
        per_step: report at optimizer steps instead of epochs (``train.val_every_steps`` is set).

    Attributes:
        pruned_at: the step at which the trial was pruned, or ``None``.
    """

    def __init__(self, trial: optuna.trial.Trial, metric: str, per_step: bool = False) -> None:
        self.trial = trial
        self.metric = metric
        self.per_step = per_step
        self.pruned_at: int | None = None

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        value = logs.get(self.metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or self.pruned_at is not None:
            return
        step = int(logs["step"] if self.per_step else logs["epoch"])
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            self.pruned_at = step
            unit = "step" if self.per_step else "epoch"
            state.request_stop(f"pruned by the study at {unit} {step} ({self.metric} {value:.4g})")
