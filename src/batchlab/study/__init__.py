"""Batch-size studies: sweeps over batch sizes, the critical batch size, the gradient noise scale, max batch,
and the best learning rate against the batch size (a range test per size, the exponent and its interval).

The pure pieces (sizes, budgets, targets, the critical-batch fit, the noise-scale estimators) import nothing
heavy; the sweep and the finders are loaded on first use, so that importing a pure module (as the training
callback does for the estimators) never pulls in the training stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batchlab.study.budget import Budget, parse_budget
from batchlab.study.critical import CriticalBatchFit, fit_critical_batch
from batchlab.study.lr_exponent import ExponentFit, LRBatchAnalysis, RatePoint, analyze_lr_batch, fit_exponent
from batchlab.study.sizes import BatchSize, parse_sizes, resolve_sizes
from batchlab.study.targets import Target, first_reached, parse_target
from batchlab.train.noise_estimate import NoiseEMA, NoiseEstimate, simple_noise_scale, unbiased_estimates

if TYPE_CHECKING:
    from batchlab.study.batch_size import BatchSizeStudy, run_batch_size_study
    from batchlab.study.cell import CellSettings
    from batchlab.study.lr_batch import LRBatchStudy, run_lr_batch_study
    from batchlab.study.max_batch import find_max_batch, propose_accumulation
    from batchlab.study.noise_run import run_noise_scale_study

__all__ = [
    "BatchSize",
    "BatchSizeStudy",
    "Budget",
    "CellSettings",
    "CriticalBatchFit",
    "ExponentFit",
    "LRBatchAnalysis",
    "LRBatchStudy",
    "NoiseEMA",
    "NoiseEstimate",
    "RatePoint",
    "Target",
    "analyze_lr_batch",
    "find_max_batch",
    "first_reached",
    "fit_critical_batch",
    "fit_exponent",
    "parse_budget",
    "parse_sizes",
    "parse_target",
    "propose_accumulation",
    "resolve_sizes",
    "run_batch_size_study",
    "run_lr_batch_study",
    "run_noise_scale_study",
    "simple_noise_scale",
    "unbiased_estimates",
]

_LAZY = {
    "BatchSizeStudy": "batchlab.study.batch_size",
    "run_batch_size_study": "batchlab.study.batch_size",
    "CellSettings": "batchlab.study.cell",
    "LRBatchStudy": "batchlab.study.lr_batch",
    "run_lr_batch_study": "batchlab.study.lr_batch",
    "find_max_batch": "batchlab.study.max_batch",
    "propose_accumulation": "batchlab.study.max_batch",
    "run_noise_scale_study": "batchlab.study.noise_run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'batchlab.study' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
