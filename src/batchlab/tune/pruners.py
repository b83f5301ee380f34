"""Optuna pruners that stop unpromising trials from their per-epoch validation metric.

A trial reports its metric after every epoch (step = epoch, 1-based; or the optimizer step when
``train.val_every_steps`` is set), and the pruner compares it with other trials at the same step:

- ``median``: :class:`optuna.pruners.MedianPruner`; stop a trial whose value is worse than the median of
  earlier trials at the same epoch. Never during the first 3 finished trials or before epoch 2.
- ``halving``: :class:`optuna.pruners.SuccessiveHalvingPruner` (asynchronous successive halving):
  rungs at epochs 1, 3, 9, ...; a trial continues past a rung only if it is in the best third there.
- ``hyperband``: :class:`optuna.pruners.HyperbandPruner`: several successive-halving brackets from
  1 epoch up to the config's ``train.epochs`` (the largest, when epochs are tuned).
- ``none``: :class:`optuna.pruners.NopPruner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchlab.tune.settings import TuneSettings

if TYPE_CHECKING:
    import optuna

__all__ = ["make_pruner", "max_epochs"]

MEDIAN_STARTUP_TRIALS = 3
MEDIAN_WARMUP_EPOCHS = 1
REDUCTION_FACTOR = 3


def make_pruner(settings: TuneSettings) -> optuna.pruners.BasePruner:
    """The pruner named by ``settings.prune``."""
    import optuna

    if settings.prune == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=MEDIAN_WARMUP_EPOCHS + 1, n_min_trials=1
        )
    if settings.prune == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION_FACTOR)
    if settings.prune == "hyperband":
        top = max_epochs(settings)
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=top if top is not None else "auto", reduction_factor=REDUCTION_FACTOR
        )
    return optuna.pruners.NopPruner()


def max_epochs(settings: TuneSettings) -> int | None:
    """The most epochs a trial can run (``None`` when only ``max_steps`` bounds training)."""
    if "train.epochs" in settings.space.paths:
        param = settings.space.param("train.epochs")
        values = [v for v in param.choices if isinstance(v, int)] if param.kind == "choice" else [int(param.high)]
        return max(values) if values else None
    return settings.config.train.epochs
