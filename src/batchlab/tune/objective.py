"""The objective of a trial: build its config, train it into ``STUDY_DIR/trials/<number>``, score it.

The score is the **best** value of the metric over the trial's evaluations (the highest accuracy, the
lowest loss), the same epoch whose weights early stopping keeps when it monitors that metric. A trial
whose training diverges, whose config is invalid, or that fails in any other way is recorded as FAIL
with the reason in its ``fail_reason`` user attribute, and the study goes on. A trial interrupted by
Ctrl-C or SIGTERM is marked ``interrupted`` and queued again when the study resumes
(:mod:`batchlab.tune.recovery`).

Trial runs write no periodic checkpoints (a trial is never resumed, only rerun), and show no progress.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from batchlab.config import Config
from batchlab.errors import BatchlabError, DivergenceError, InterruptedRun
from batchlab.tune.gate import Gate
from batchlab.tune.owner import Owner
from batchlab.tune.pruning import TrialPruning
from batchlab.tune.settings import TuneSettings
from batchlab.tune.trial_config import trial_config

if TYPE_CHECKING:
    import optuna

    from batchlab.experiment.training import RunResult

__all__ = ["TrialFailed", "TrialObjective", "best_value", "trial_run_dir"]

log = logging.getLogger(__name__)


class TrialFailed(Exception):
    """A trial failed for the reason given; the study records it and goes on."""


def trial_run_dir(study_dir: str | Path, number: int) -> Path:
    """``STUDY_DIR/trials/<number>``."""
    return Path(study_dir) / "trials" / str(number)


def best_value(history: Sequence[dict[str, Any]], metric: str, direction: str) -> tuple[float, int] | None:
    """The best finite ``metric`` over the history rows and the epoch it was reached at, or ``None``."""
    scored = [
        (float(row[metric]), int(row.get("epoch", i + 1)))
        for i, row in enumerate(history)
        if isinstance(row.get(metric), (int, float)) and math.isfinite(row[metric])
    ]
    if not scored:
        return None
    pick = max if direction == "maximize" else min
    return pick(scored, key=lambda item: item[0])


class TrialObjective:
    """``objective(trial) -> metric`` for :meth:`optuna.Study.optimize`.

    Args:
        settings: the study.
        gate: the admission gate, held by the caller when a trial starts; released here once the trial
            has recorded its worker and parameters.
        owner: this worker process.
    """

    def __init__(self, settings: TuneSettings, gate: Gate, owner: Owner) -> None:
        self.settings = settings
        self.gate = gate
        self.owner = owner

    def __call__(self, trial: optuna.trial.Trial) -> float:
        import optuna

        try:
            params = self._start(trial)
        finally:
            self.gate.release()
        settings = self.settings
        run_dir = trial_run_dir(settings.study_dir, trial.number)
        pruning = TrialPruning(trial, settings.metric, per_step=settings.config.train.val_every_steps is not None)
        try:
            config = trial_config(settings.config, params, settings.lr_scaling)
            result = train_run_quietly(_without_checkpoints(config), run_dir, pruning)
        except (InterruptedRun, KeyboardInterrupt) as exc:
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("fail_reason", f"interrupted: {str(exc) or 'Ctrl-C'}")
            raise
        except DivergenceError as exc:
            self._fail(trial, str(exc) if "diverged" in str(exc) else f"diverged: {exc}")
        except BatchlabError as exc:
            self._fail(trial, str(exc))
        except Exception as exc:  # any other failure of one trial is recorded too, and the study goes on
            log.warning("trial %d failed", trial.number, exc_info=True)
            self._fail(trial, f"{exc.__class__.__name__}: {exc}")
        info = result.info
        trial.set_user_attr("epochs", info.get("epochs_run"))
        trial.set_user_attr("stop_reason", result.stop_reason)
        trial.set_user_attr("lr", info.get("lr"))
        best = best_value(result.history, settings.metric, settings.direction)
        if best is None:
            logged = sorted({k for row in result.history for k in row if k.startswith(("val_", "train_"))})
            self._fail(trial, f"{settings.metric} was never logged with a finite value (logged: {', '.join(logged)})")
        value, epoch = best
        trial.set_user_attr("best_epoch", epoch)
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_at}")
        return value

    def _start(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        """Record the worker and run directory, sample the parameters (config values)."""
        trial.set_user_attr("worker", self.owner.to_attr())
        trial.set_user_attr("run_dir", str(trial_run_dir(self.settings.study_dir, trial.number)))
        try:
            return self.settings.space.suggest(trial)
        except Exception as exc:  # e.g. a grid point outside a changed space
            self._fail(trial, f"cannot sample the parameters: {exc}")

    def _fail(self, trial: optuna.trial.Trial, reason: str) -> NoReturn:
        trial.set_user_attr("fail_reason", reason)
        raise TrialFailed(reason)


def train_run_quietly(config: Config, run_dir: Path, pruning: TrialPruning) -> RunResult:
    """:func:`batchlab.experiment.training.train_run` without progress output."""
    from batchlab.experiment.training import train_run

    return train_run(config, run_dir=run_dir, callbacks=[pruning], progress=False)


def _without_checkpoints(config: Config) -> Config:
    never = {"every_steps": None, "every_epochs": None, "every_seconds": None, "keep": 1}
    checkpoint = config.train.checkpoint.model_copy(update=never)
    return config.model_copy(update={"train": config.train.model_copy(update={"checkpoint": checkpoint})})
