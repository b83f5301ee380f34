"""Per-feature statistics of data seen block by block: sums, sums of squares, extremes, missing counts.

Used to fit scaling without holding the data (streamed splits) or a float64 copy of it (large
in-memory arrays).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Moments"]


class Moments:
    """Running sums of finite values along some axes, per feature or channel.

    Args:
        axes: the axes summed over: ``(0,)`` for vectors ``(n, d)``, ``(0, 2, 3)`` for images
            ``(n, C, H, W)``; statistics have one value per remaining axis 1 entry.

    Feed it blocks of rows with :meth:`add`; :meth:`filled` gives the statistics. Sums are float64; for
    data far from zero, subtract a rough center (e.g. the median) before adding to keep the variance
    free of cancellation.
    """

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes
        self.total: np.ndarray | None = None
        self.squares: np.ndarray | None = None
        self.count: np.ndarray | None = None
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None
        self.missing: np.ndarray | None = None

    def add(self, values: np.ndarray) -> None:
        data = np.asarray(values, dtype=np.float64)  # no copy when it is float64 already
        finite = np.isfinite(data)
        if finite.all():  # the common case: fewer passes over the block
            rows = np.prod([data.shape[a] for a in self.axes])
            parts = (
                data.sum(axis=self.axes),
                np.square(data).sum(axis=self.axes),
                np.full(data.shape[1], rows),
                data.min(axis=self.axes),
                data.max(axis=self.axes),
                np.zeros(data.shape[1], dtype=np.int64),
            )
        else:
            clean = np.where(finite, data, 0.0)
            parts = (
                clean.sum(axis=self.axes),
                np.square(clean).sum(axis=self.axes),
                finite.sum(axis=self.axes),
                np.where(finite, data, np.inf).min(axis=self.axes),
                np.where(finite, data, -np.inf).max(axis=self.axes),
                (~finite).sum(axis=self.axes),
            )
        if self.total is None:
            self.total, self.squares, self.count, self.low, self.high, self.missing = parts
            return
        assert self.squares is not None and self.count is not None and self.low is not None
        assert self.high is not None and self.missing is not None
        self.total = self.total + parts[0]
        self.squares = self.squares + parts[1]
        self.count = self.count + parts[2]
        self.low = np.minimum(self.low, parts[3])
        self.high = np.maximum(self.high, parts[4])
        self.missing = self.missing + parts[5]

    def filled(self, fill: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, std (population), min and max once missing values take ``fill``."""
        assert self.total is not None and self.squares is not None and self.count is not None
        assert self.low is not None and self.high is not None and self.missing is not None
        n = self.count + self.missing
        total = self.total + self.missing * fill
        squares = self.squares + self.missing * fill**2
        mean = total / n
        std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
        has = self.missing > 0
        low = np.where(has, np.minimum(self.low, fill), self.low)
        high = np.where(has, np.maximum(self.high, fill), self.high)
        return mean, std, low, high
