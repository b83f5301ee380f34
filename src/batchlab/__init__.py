"""batchlab: mini-batch training of neural networks on PyTorch, with the batch size as an object of study.

The stable public API is listed in ``__all__``; heavy modules load on first use so that
``import batchlab`` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batchlab.version import VERSION as __version__

__all__ = [
    "BatchlabError",
    "Config",
    "MiniBatches",
    "RunResult",
    "__version__",
    "evaluate",
    "fit",
    "generate",
    "load_config",
    "load_dataset",
    "lr_find",
    "predict",
    "prepare_data",
    "study_batch_size",
    "tune",
]

_LAZY = {
    "fit": "batchlab.api",
    "evaluate": "batchlab.api",
    "predict": "batchlab.api",
    "generate": "batchlab.api",
    "lr_find": "batchlab.api",
    "RunResult": "batchlab.experiment.training",
    "Config": "batchlab.config",
    "load_config": "batchlab.config",
    "BatchlabError": "batchlab.errors",
    "MiniBatches": "batchlab.data.batching",
    "prepare_data": "batchlab.data.pipeline",
    "load_dataset": "batchlab.data.pipeline",
    "study_batch_size": "batchlab.study.batch_size",
    "tune": "batchlab.tune",
}

if TYPE_CHECKING:
    from batchlab.api import evaluate, fit, generate, lr_find, predict
    from batchlab.config import Config, load_config
    from batchlab.data.batching import MiniBatches
    from batchlab.data.pipeline import prepare_data
    from batchlab.errors import BatchlabError
    from batchlab.experiment.training import RunResult
    from batchlab.study.batch_size import run_batch_size_study as study_batch_size


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'batchlab' has no attribute {name!r}")
    import importlib

    if name == "load_dataset":
        return importlib.import_module(module).prepare_data
    if name == "tune":  # the subpackage: batchlab.tune.run_study(...), batchlab.tune.load_space(...)
        return importlib.import_module("batchlab.tune")
    if name == "study_batch_size":
        return importlib.import_module(module).run_batch_size_study
    return getattr(importlib.import_module(module), name)
