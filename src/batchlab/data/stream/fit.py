"""Fit the preprocessor on a streamed training split in one sequential pass, in bounded memory.

The result is an ordinary :class:`~batchlab.data.preprocess.Preprocessor` (its state is saved in
``preprocess.json`` and reused by evaluate and predict), built from sums instead of whole arrays:

* features: per-feature (vectors) or per-channel (images) sums, sums of squares, minimum and maximum
  of the finite values, and non-finite counts; the fill value for missing values is the median of a
  sample of about :data:`MEDIAN_SAMPLE_VALUES` values spread over the blocks (the in-memory path
  uses the exact median for vectors). Means and standard deviations account for the filled values
  exactly.
* target: the distinct values (classification) or the sum and sum of squares (regression); ``task:
  auto`` applies the in-memory rule to the training rows.

Every training row must have a finite target: a streamed row cannot be dropped without changing the
batch count, so a missing target is an error naming the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from batchlab.data.moments import Moments
from batchlab.data.preprocess import STATE_FORMAT, Preprocessor
from batchlab.data.target import MAX_AUTO_CLASSES, value_strings
from batchlab.errors import DataError

if TYPE_CHECKING:
    from batchlab.config import DataConfig
    from batchlab.data.stream.batches import BlockSplit
    from batchlab.data.stream.layout import RowLayout

__all__ = ["MEDIAN_SAMPLE_VALUES", "fit_streamed"]

MEDIAN_SAMPLE_VALUES = 1_000_000


def fit_streamed(cfg: DataConfig, split: BlockSplit, layout: RowLayout) -> Preprocessor:
    """A preprocessor fitted on the training rows of ``split`` (read once, block by block).

    Args:
        cfg: the ``data`` section (``task``, ``scale``, ``missing``, ``scale_target``).
        split: the training split.
        layout: how its rows hold features and target.

    Raises:
        DataError: a missing target, a missing feature with ``missing: error``, a single class.
    """
    axes = (0,) if not layout.image else (0, 2, 3)
    features = Moments(axes)
    target_sum, target_squares, distinct, integral = 0.0, 0.0, np.empty(0), True
    sample: list[np.ndarray] = []
    sample_rows = max(1, MEDIAN_SAMPLE_VALUES // max(1, int(np.prod(layout.sample_shape))))
    per_block = max(1, -(-sample_rows // max(1, len(split.blocks))))
    dtype_is_uint8 = False
    for block in np.sort(split.blocks).tolist():
        x, y = layout.split(split.read_block(block))
        dtype_is_uint8 = x.dtype == np.uint8
        if cfg.missing == "error" and np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            row = block * split.block_rows + int(np.argmax(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))) + 1
            raise DataError(
                f"data: the features hold a missing value at row {row} and data.missing is 'error'; fill it "
                "in, or set data.missing: impute"
            )
        features.add(x)
        sample.append(np.asarray(x[:per_block], dtype=np.float64))
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all():
            row = block * split.block_rows + int(np.argmax(~np.isfinite(values))) + 1
            raise DataError(f"data: row {row} has a missing target; streamed data must have a target in every row")
        integral = integral and bool(np.all(values == np.round(values)))
        if len(distinct) <= MAX_AUTO_CLASSES or cfg.task == "classification":
            distinct = np.union1d(distinct, np.unique(values))
        target_sum += float(values.sum())
        target_squares += float(np.square(values).sum())
    task = cfg.task
    if task == "auto":
        task = "classification" if integral and len(distinct) <= MAX_AUTO_CLASSES else "regression"
    return Preprocessor.from_state(
        {
            "format": STATE_FORMAT,
            "settings": {
                "task": cfg.task,
                "scale": cfg.scale,
                "missing": cfg.missing,
                "categorical": [],
                "numeric": [],
                "scale_target": cfg.scale_target,
            },
            "task": task,
            "target_name": None,
            "target": _target_state(task, cfg.scale_target, distinct, target_sum, target_squares, split.num_rows),
            "features": {
                "kind": "arrays",
                **_scaler_state(cfg, layout, features, np.concatenate(sample), dtype_is_uint8),
            },
        }
    )


def _target_state(task: str, scale: bool, distinct: np.ndarray, total: float, squares: float, n: int) -> dict[str, Any]:
    label = "data: the labels"
    if task == "classification":
        classes = list(value_strings(pd.Series(distinct)))
        if len(classes) < 2:
            raise DataError(f"{label} have a single class '{classes[0] if classes else ''}'; classification needs 2")
        return {"task": task, "scale": scale, "label": label, "classes": classes, "mean": 0.0, "std": 1.0}
    mean = total / n if scale else 0.0
    std = float(np.sqrt(max(squares / n - (total / n) ** 2, 0.0))) if scale else 1.0
    return {"task": task, "scale": scale, "label": label, "classes": None, "mean": mean, "std": std or 1.0}


def _scaler_state(
    cfg: DataConfig, layout: RowLayout, moments: Moments, sample: np.ndarray, uint8: bool
) -> dict[str, Any]:
    if layout.image:
        per_channel = np.moveaxis(sample, 1, 0).reshape(sample.shape[1], -1)
        fill = np.array([_finite_median(c) for c in per_channel])
    else:
        fill = np.array([_finite_median(c) for c in sample.T])
    mean, std, low, high = moments.filled(fill)
    divisor = 1.0
    if layout.image:
        largest = float(np.max(high))
        if cfg.scale != "none" and np.isfinite(largest) and largest > 1.0:
            divisor = 255.0 if uint8 else largest
        center, spread = np.zeros_like(mean), np.ones_like(mean)
        if cfg.scale == "standard":
            center, spread = mean / divisor, std / divisor
    elif cfg.scale == "standard":
        center, spread = mean, std
    elif cfg.scale == "minmax":
        center, spread = low, high - low
    else:
        center, spread = np.zeros_like(mean), np.ones_like(mean)
    return {
        "scale": cfg.scale,
        "missing": cfg.missing,
        "image": layout.image,
        "input_shape": list(layout.sample_shape),
        "divisor": divisor,
        "fill": fill.tolist(),
        "center": center.tolist(),
        "scale_by": np.where(spread > 0, spread, 1.0).tolist(),
    }


def _finite_median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else 0.0
