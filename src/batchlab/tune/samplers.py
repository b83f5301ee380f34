"""Optuna samplers for the three methods, all seeded.

- ``grid``: :class:`optuna.samplers.GridSampler` over the product of the space's values
  (:mod:`batchlab.tune.grid`). Trial ``k`` takes the ``k``-th point of a seeded shuffle, so several
  workers never pick the same point; every worker must use the same seed.
- ``random``: :class:`optuna.samplers.RandomSampler` (uniform, or uniform in log space for ``log_*``).
- ``bayes``: :class:`optuna.samplers.TPESampler` (default) or :class:`optuna.samplers.GPSampler`
  (``--sampler gp``). Both start with random trials: ``min(10, max(4, trials // 4))`` of them, so a
  small budget still leaves most trials to the model.

Random and Bayesian samplers draw each trial's values from a generator seeded with the study's seed
and the trial number (:mod:`batchlab.tune.seeding`): a resumed study or a second worker never replays
the values of earlier trials, and a random search gives the same trials whatever the number of workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchlab.tune.grid import grid_points
from batchlab.tune.seeding import per_trial_seeds
from batchlab.tune.settings import TuneSettings

if TYPE_CHECKING:
    import optuna

__all__ = ["make_sampler", "startup_trials"]


def make_sampler(settings: TuneSettings) -> optuna.samplers.BaseSampler:
    """The sampler of ``settings.method``.

    Raises:
        ConfigError: grid search over a continuous range without ``--grid-points`` (see :func:`grid_points`).
    """
    import optuna

    if settings.method == "grid":
        return optuna.samplers.GridSampler(grid_points(settings.space, settings.grid_points), seed=settings.seed)
    if settings.method == "random":
        return per_trial_seeds(lambda seed: optuna.samplers.RandomSampler(seed=seed), settings.seed)
    startup = startup_trials(settings.trials)
    if settings.sampler == "gp":
        return per_trial_seeds(
            lambda seed: optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup), settings.seed
        )
    liar = settings.workers > 1
    return per_trial_seeds(
        lambda seed: optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=liar), settings.seed
    )


def startup_trials(trials: int | None) -> int:
    """Random trials before a Bayesian sampler starts modelling: 10, or a quarter of a small budget (>= 4)."""
    if trials is None:
        return 10
    return min(10, max(4, trials // 4))
