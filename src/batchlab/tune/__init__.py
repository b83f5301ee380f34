"""Hyperparameter tuning on Optuna: grid, random and Bayesian search over any config field.

The pieces, one job per module:

- :mod:`~batchlab.tune.space`: search space files (``{dotted.path: {choice|uniform|log_uniform|int|int_log: ...}}``);
  :mod:`~batchlab.tune.schema` checks them against the config schema, :mod:`~batchlab.tune.grid` lists grids;
- :mod:`~batchlab.tune.settings`: the options of a study; :mod:`~batchlab.tune.samplers`,
  :mod:`~batchlab.tune.pruners`, :mod:`~batchlab.tune.storage`: the Optuna objects they name;
- :mod:`~batchlab.tune.objective` (with :mod:`~batchlab.tune.pruning`): one trial = one training run;
- :mod:`~batchlab.tune.worker`, :mod:`~batchlab.tune.gate`, :mod:`~batchlab.tune.budget`,
  :mod:`~batchlab.tune.recovery`, :mod:`~batchlab.tune.owner`: several workers, an exact trial budget,
  and trials of dead workers;
- :mod:`~batchlab.tune.runner`: :func:`run_study`; :mod:`~batchlab.tune.results`, :mod:`~batchlab.tune.plots`,
  :mod:`~batchlab.tune.live`: what a study shows and leaves behind.

Optuna (and torch) load only when a study runs, so importing this package is quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Param",
    "SearchSpace",
    "StudyOutcome",
    "TuneSettings",
    "load_space",
    "make_settings",
    "parse_space",
    "run_study",
]

_LAZY = {
    "Param": "batchlab.tune.space",
    "SearchSpace": "batchlab.tune.space",
    "load_space": "batchlab.tune.space",
    "parse_space": "batchlab.tune.space",
    "TuneSettings": "batchlab.tune.settings",
    "make_settings": "batchlab.tune.settings",
    "StudyOutcome": "batchlab.tune.runner",
    "run_study": "batchlab.tune.runner",
}

if TYPE_CHECKING:
    from batchlab.tune.runner import StudyOutcome, run_study
    from batchlab.tune.settings import TuneSettings, make_settings
    from batchlab.tune.space import Param, SearchSpace, load_space, parse_space


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'batchlab.tune' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
