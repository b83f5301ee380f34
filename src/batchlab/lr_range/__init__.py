"""The learning-rate range test (``batchlab lr-find``): the rates, the smoothed curve, the suggestions.

Use :func:`batchlab.lr_find` for a whole test from a config. The pieces:

- :mod:`batchlab.lr_range.curve`: pure math (rate grid, bias-corrected smoothing, divergence, the two
  suggestion rules);
- :mod:`batchlab.lr_range.recorder`: the training-loop callback that sets each step's rate and records the loss;
- :mod:`batchlab.lr_range.range_test`: the test of a config (:func:`run_lr_find`) and its result;
- :mod:`batchlab.lr_range.files`: ``lr_find.csv``, ``lr_find.json`` and the applied config.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batchlab.lr_range.curve import MODES, RULES, LossSmoother, Suggestion, rate_grid, smooth_losses, suggest

if TYPE_CHECKING:
    from batchlab.lr_range.range_test import LRFindResult, RangeSettings, run_lr_find

__all__ = [
    "MODES",
    "RULES",
    "LRFindResult",
    "LossSmoother",
    "RangeSettings",
    "Suggestion",
    "rate_grid",
    "run_lr_find",
    "smooth_losses",
    "suggest",
]

_LAZY = {
    "LRFindResult": "batchlab.lr_range.range_test",
    "RangeSettings": "batchlab.lr_range.range_test",
    "run_lr_find": "batchlab.lr_range.range_test",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'batchlab.lr_range' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
