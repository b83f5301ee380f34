"""Seeds per trial: trial ``k`` samples with a generator seeded from ``(seed, k)``.

An Optuna sampler seeded once per process replays the same random stream in every process: a resumed
study would propose its first trials' values again, and workers with equal seeds would propose equal
values. Wrapping the sampler so that each trial gets a fresh one seeded from the study's seed and the
trial number makes a trial's random values depend on nothing else: a random search is reproducible
across resumes and any number of workers, and a Bayesian search with one worker is reproducible too
(its model still depends on which trials have finished, which is timing when several run at once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["per_trial_seeds", "trial_seed"]


def trial_seed(seed: int, number: int) -> int:
    """A 32-bit seed for trial ``number`` of a study seeded with ``seed`` (stable across Python versions)."""
    digest = hashlib.sha256(f"batchlab:{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def per_trial_seeds(make: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> optuna.samplers.BaseSampler:
    """A sampler that delegates each trial to ``make(trial_seed(seed, trial.number))``.

    Args:
        make: builds an Optuna sampler from a seed, e.g. ``lambda s: RandomSampler(seed=s)``.
        seed: the study's seed.
    """
    import optuna

    class PerTrialSeeds(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

        def _for(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
            sampler = self._by_trial.get(trial.number)
            if sampler is None:
                sampler = self._by_trial[trial.number] = make(trial_seed(seed, trial.number))
            return sampler

        def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
            self._for(trial).before_trial(study, trial)

        def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
            return self._for(trial).infer_relative_search_space(study, trial)

        def sample_relative(
            self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
        ) -> dict[str, Any]:
            return self._for(trial).sample_relative(study, trial, search_space)

        def sample_independent(
            self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
        ) -> Any:
            return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

        def after_trial(
            self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
        ) -> None:
            self._for(trial).after_trial(study, trial, state, values)
            self._by_trial.pop(trial.number, None)

        def reseed_rng(self) -> None:  # the seeds come from the trial numbers
            pass

    return PerTrialSeeds()
