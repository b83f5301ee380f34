"""The inputs an exported model takes, made from a run's own test split: raw numbers for tables, vectors and
images (the model scales them itself), padded token ids or feature frames with their lengths for sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from batchlab.errors import CheckpointError

__all__ = ["feeds_of_test_split"]


def feeds_of_test_split(trained: Any) -> Iterator[tuple[dict[str, np.ndarray], tuple[torch.Tensor, ...]]]:
    """Batches of the run's test split as exported-model inputs, each with the model's inputs in PyTorch.

    Args:
        trained: a :class:`~batchlab.experiment.inference.TrainedRun`.

    Yields:
        ``(feeds, model_inputs)``: ``feeds`` maps the exported model's input names to arrays (``x``, and
        ``lengths`` for sequences); ``model_inputs`` are the network's own (preprocessed) inputs for the
        same samples, ``(x,)`` or ``(x, lengths)``, to compare with PyTorch.

    Raises:
        CheckpointError: the run has no test split.
    """
    from batchlab.data.pipeline import prepare_data

    spec = trained.spec
    if spec.kind in ("vector", "image"):
        yield from _fixed_feeds(trained)
        return
    data = prepare_data(trained.config.data, preprocessor=trained.preprocessor)
    if data.test is None or not len(data.test):
        raise CheckpointError(f"{str(trained.run.path)!r} has no test split (data.split.test is 0)")
    for batch in trained.batches(data.test, ordered=True).epoch(0):
        x = batch.x.cpu()
        lengths = batch.lengths
        if lengths is None:  # no padding in this batch: every sample has the full length
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        lengths = lengths.cpu()
        yield {"x": x.numpy(), "lengths": lengths.numpy()}, (x, lengths)


def _fixed_feeds(trained: Any, batch_size: int = 512) -> Iterator[tuple[dict[str, np.ndarray], tuple[torch.Tensor]]]:
    from batchlab.data.pipeline import raw_test_split
    from batchlab.data.sources import RawTable

    preprocessor = trained.preprocessor
    raw = raw_test_split(trained.config.data, preprocessor)
    if raw is None or len(raw) == 0:
        raise CheckpointError(f"{str(trained.run.path)!r} has no test split (data.split.test is 0)")
    if isinstance(raw, RawTable):
        frame = raw.frame.drop(columns=[raw.target]) if raw.target is not None else raw.frame
        unscaled = preprocessor.features_.unscaled(frame)
    else:
        unscaled = np.asarray(raw.x, dtype=np.float32)
    scaled, _ = preprocessor.transform(raw, with_target=False)
    for start in range(0, len(unscaled), batch_size):
        part = np.ascontiguousarray(unscaled[start : start + batch_size])
        yield {"x": part}, (scaled[start : start + batch_size],)
