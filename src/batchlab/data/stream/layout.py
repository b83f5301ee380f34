"""How the rows of streamed stores become samples: which values are features, which the target.

A 2-D ``.npy`` file, a Parquet file and shards of either hold one row per sample with the target in
the last column (Parquet columns are ordered features first, target last when read). With a labels
file (``data.labels``), the features file holds only features (vectors, or images ``(H, W)``,
``(C, H, W)``, ``(H, W, C)``) and the labels file one value per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from batchlab.errors import DataError

__all__ = ["RowLayout"]


@dataclass(frozen=True)
class RowLayout:
    """Where features and target sit in the rows read from the stores.

    Attributes:
        label_column: the target is the last value of each feature row (no labels store).
        sample_shape: shape of one sample's features after the layout: ``(d,)`` or ``(C, H, W)``.
        image: whether samples are images.
        channels_last: rows are ``(H, W, C)`` images, transposed to ``(C, H, W)`` per batch.
    """

    label_column: bool
    sample_shape: tuple[int, ...]
    image: bool
    channels_last: bool = False

    @classmethod
    def detect(cls, features: Any, labels: Any | None, where: str) -> RowLayout:
        """The layout of a features store and an optional labels store (same row count).

        Raises:
            DataError: shapes that are not one of the supported layouts.
        """
        shape = tuple(features.row_shape)
        if labels is not None:
            if labels.num_rows != features.num_rows:
                raise DataError(
                    f"data.labels: {labels.num_rows} labels for {features.num_rows} feature rows of {where}"
                )
            if tuple(labels.row_shape) not in ((), (1,)):
                raise DataError(f"data.labels: expected one label per row, got rows of shape {labels.row_shape}")
            if len(shape) <= 1:
                return cls(False, (shape[0] if shape else 1,), False)
            if len(shape) == 2:
                return cls(False, (1, *shape), True)
            if len(shape) == 3:
                if shape[-1] in (1, 3) and shape[0] not in (1, 3):
                    return cls(False, (shape[2], shape[0], shape[1]), True, channels_last=True)
                return cls(False, shape, True)
        elif len(shape) == 1 and shape[0] >= 2:
            return cls(True, (shape[0] - 1,), False)
        raise DataError(
            f"data: {where} has rows of shape {shape}; stream a 2-D array whose last column is the target, "
            "or set data.labels to a labels .npy for feature rows of shape (d,), (H, W), (C, H, W) or (H, W, C)"
        )

    def split(self, parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``(features (b, *sample_shape), raw targets (b,))`` of the rows read from each store."""
        rows = parts[0]
        if self.label_column:
            return rows[:, :-1], rows[:, -1]
        features = rows.reshape(len(rows), *self.raw_shape)
        if self.channels_last:
            features = features.transpose(0, 3, 1, 2)
        return features, parts[1].reshape(len(rows))

    @property
    def raw_shape(self) -> tuple[int, ...]:
        """Shape of one sample as stored (before moving channels first)."""
        if self.channels_last:
            c, h, w = self.sample_shape
            return (h, w, c)
        return self.sample_shape
