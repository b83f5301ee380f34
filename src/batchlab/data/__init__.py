"""The data layer: sources → split → preprocessing → tensors (and mini-batches).

Example:
    >>> from batchlab.config import DataConfig
    >>> from batchlab.data import prepare_data
    >>> data = prepare_data(DataConfig(source="digits"))
    >>> tuple(data.train.x.shape[1:]), data.num_outputs
    ((1, 8, 8), 10)
"""

from __future__ import annotations

from batchlab.data.batching import MiniBatches, batch_count
from batchlab.data.pipeline import InferenceData, PreparedData, Split, load_for_inference, prepare_data
from batchlab.data.preprocess import Preprocessor
from batchlab.data.sources import (
    BUILTIN_DATASETS,
    BuiltinDataset,
    RawArrays,
    RawTable,
    builtin_names,
    load_source,
)
from batchlab.data.split import split_indices

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
