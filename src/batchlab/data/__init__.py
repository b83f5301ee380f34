"""The data layer: sources → split → preprocessing → tensors (and mini-batches).

Example:
    >>> from batchlab.config import DataConfig
    >>> from batchlab.data import prepare_data
    >>> data = prepare_data(DataConfig(source="digits"))
    >>> tuple(data.train.x.shape[1:]), data.num_outputs
    ((1, 8, 8), 10)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "BUILTIN_DATASETS",
    "BuiltinDataset",
    "InferenceData",
    "MiniBatches",
    "PreparedData",
    "Preprocessor",
    "RawArrays",
    "RawTable",
    "Split",
    "batch_count",
    "builtin_names",
    "load_for_inference",
    "load_source",
    "prepare_data",
    "split_indices",
]

# Each name loads its module on first use (torch and pandas load only when they are needed, so that,
# e.g., listing the built-in datasets stays quick).
_LAZY = {
    "BUILTIN_DATASETS": "batchlab.data.builtins",
    "BuiltinDataset": "batchlab.data.builtins",
    "builtin_names": "batchlab.data.builtins",
    "MiniBatches": "batchlab.data.batching",
    "batch_count": "batchlab.data.batching",
    "InferenceData": "batchlab.data.pipeline",
    "PreparedData": "batchlab.data.pipeline",
    "Split": "batchlab.data.pipeline",
    "load_for_inference": "batchlab.data.pipeline",
    "prepare_data": "batchlab.data.pipeline",
    "Preprocessor": "batchlab.data.preprocess",
    "RawArrays": "batchlab.data.sources",
    "RawTable": "batchlab.data.sources",
    "load_source": "batchlab.data.sources",
    "split_indices": "batchlab.data.split",
}

if TYPE_CHECKING:
    from batchlab.data.batching import MiniBatches, batch_count
    from batchlab.data.builtins import BUILTIN_DATASETS, BuiltinDataset, builtin_names
    from batchlab.data.pipeline import InferenceData, PreparedData, Split, load_for_inference, prepare_data
    from batchlab.data.preprocess import Preprocessor
    from batchlab.data.sources import RawArrays, RawTable, load_source
    from batchlab.data.split import split_indices


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'batchlab.data' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
