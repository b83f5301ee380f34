"""Data larger than memory: splits that stay on disk and mini-batches read from them with bounded memory.

``data.stream.enabled`` routes :func:`~batchlab.data.pipeline.prepare_data` here. One module per job:

* :mod:`~batchlab.data.stream.rows`: row stores (``.npy`` by positional reads or a memory map, Parquet,
  folders of shards) that read a few rows at a time;
* :mod:`~batchlab.data.stream.layout`: which values of a stored row are the features and which the target;
* :mod:`~batchlab.data.stream.prepare`: the source split into blocks of rows for train, validation and test;
* :mod:`~batchlab.data.stream.fit`: the preprocessor fitted in one pass over the training blocks;
* :mod:`~batchlab.data.stream.batches`: seeded, resumable mini-batches (exact or buffered shuffle);
* :mod:`~batchlab.data.stream.bijection`: the exact shuffle's permutation, computed position by position;
* :mod:`~batchlab.data.stream.prefetch`: a reader thread that keeps a few batches ahead of training.
"""

from __future__ import annotations

from batchlab.data.stream.batches import BlockSplit, StreamBatches
from batchlab.data.stream.bijection import Bijection
from batchlab.data.stream.prefetch import prefetch
from batchlab.data.stream.prepare import StreamedSplit, prepare_stream
from batchlab.data.stream.rows import open_rows

__all__ = ["Bijection", "BlockSplit", "StreamBatches", "StreamedSplit", "open_rows", "prefetch", "prepare_stream"]
