"""Feature vectors already in memory as a run's data, with targets the caller has encoded.

This is the data path of the scikit-learn estimators (:mod:`batchlab.sklearn`): scikit-learn has
validated ``X`` and the estimator knows its classes, so targets arrive as class indices (or numbers for
regression) and only the features are scaled here, with the same :class:`ArrayScaler` that ``.npy`` and
``.npz`` sources use. The split follows ``data.split`` as for any source.

Example:
    >>> import numpy as np
    >>> from batchlab.config import DataConfig, SplitConfig
    >>> x, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    >>> cfg = DataConfig(split=SplitConfig(val=0.3, test=0.0))
    >>> data = prepare_arrays(cfg, x, y, task="classification", classes=["even", "odd"])
    >>> len(data.train), len(data.val), data.test is None, data.num_outputs, data.classes
    (14, 6, True, 1, ['even', 'odd'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from batchlab.data.array_scaler import ArrayScaler
from batchlab.data.prepared import PreparedData, Split
from batchlab.data.split import split_indices
from batchlab.errors import DataError

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = ["ArrayPreprocessor", "prepare_arrays"]

STATE_KIND = "in_memory_arrays"


class ArrayPreprocessor:
    """Feature scaling of ``(n, d)`` vectors plus the (already encoded) target's description.

    Build it with :meth:`fit`. It offers what a run needs from a fitted preprocessor (``task_``,
    ``classes_``, ``input_shape_``, ``target_mean_``, ``target_std_``, ``state_dict``).

    Attributes:
        scaler_: the fitted :class:`ArrayScaler` (``standard``, ``minmax`` or ``none``; missing values
            take the training median).
        task_: ``"classification"`` or ``"regression"``.
        classes_: class names, index = class index (classification), else ``None``.
        target_mean_: regression: subtracted from targets for training, in target units; else ``None``.
        target_std_: regression: targets are divided by it for training (never 0); else ``None``.
    """

    scaler_: ArrayScaler
    task_: str
    classes_: list[str] | None
    target_mean_: float | None
    target_std_: float | None

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        *,
        task: str,
        classes: Sequence[str] | None = None,
        scale: str = "standard",
        scale_target: bool = True,
    ) -> ArrayPreprocessor:
        """Learn the feature scaling (and a regression target's mean and std) from training rows.

        Args:
            x: training features, shape ``(n, features)``, any real dtype; NaN and ±inf are missing.
            y: training targets, shape ``(n,)``: class indices in ``[0, len(classes))`` or numbers.
            task: ``"classification"`` (then ``classes`` is required) or ``"regression"``.
            classes: names of the classes, index = class index.
            scale: ``standard``, ``minmax`` or ``none`` (``data.scale``).
            scale_target: standardize a regression target for training (``data.scale_target``).
        """
        pre = cls()
        pre.scaler_ = ArrayScaler(scale=scale).fit(x, image=False)
        pre.task_ = task
        pre.classes_ = [str(c) for c in classes] if classes is not None else None
        pre.target_mean_ = pre.target_std_ = None
        if task == "regression":
            values = np.asarray(y, dtype=np.float64)
            std = float(values.std()) if scale_target else 1.0
            pre.target_mean_ = float(values.mean()) if scale_target else 0.0
            pre.target_std_ = std if std > 0 and np.isfinite(std) else 1.0
        return pre

    @property
    def input_shape_(self) -> tuple[int, ...]:
        """``(features,)``."""
        return self.scaler_.input_shape_

    def transform(self, x: np.ndarray) -> torch.Tensor:
        """Scaled features, float32 tensor ``(n, features)`` (``x`` is left unchanged)."""
        return torch.from_numpy(np.ascontiguousarray(self.scaler_.transform(x), dtype=np.float32))

    def encode_target(self, y: np.ndarray) -> torch.Tensor:
        """Targets as the loss expects them: int64 class indices, or float32 ``(y - mean) / std``."""
        if self.task_ == "classification":
            return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
        assert self.target_mean_ is not None and self.target_std_ is not None
        scaled = (np.asarray(y, dtype=np.float64) - self.target_mean_) / self.target_std_
        return torch.from_numpy(scaled.astype(np.float32))

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted state, JSON-serializable."""
        return {
            "kind": STATE_KIND,
            "task": self.task_,
            "classes": self.classes_,
            "target_mean": self.target_mean_,
            "target_std": self.target_std_,
            "features": self.scaler_.state_dict(),
        }


def prepare_arrays(
    cfg: DataConfig,
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    classes: Sequence[str] | None = None,
    preprocessor: ArrayPreprocessor | None = None,
) -> PreparedData:
    """Split in-memory rows by ``cfg.split``, fit the preprocessor on the training rows, transform every split.

    Args:
        cfg: the ``data`` section: ``split`` (stratified for classification when ``split.stratify``),
            ``scale`` and ``scale_target``.
        x: features, shape ``(n, features)``.
        y: encoded targets, shape ``(n,)``: class indices into ``classes``, or numbers for regression.
        task: ``"classification"`` or ``"regression"``.
        classes: the class names (classification).
        preprocessor: an already fitted one (e.g. to continue training on new rows) instead of fitting.

    Raises:
        DataError: ``x`` and ``y`` differ in length, or too few rows for the split.
    """
    if len(x) != len(y):
        raise DataError(f"data: {len(x)} feature rows but {len(y)} targets; they must match")
    split = cfg.split
    labels = np.asarray(y) if task == "classification" and split.stratify else None
    train_rows, val_rows, test_rows = split_indices(
        len(x), val=split.val, test=split.test, seed=split.seed, stratify_labels=labels
    )
    if preprocessor is None:
        preprocessor = ArrayPreprocessor.fit(
            x[train_rows], y[train_rows], task=task, classes=classes, scale=cfg.scale, scale_target=cfg.scale_target
        )
    fitted = preprocessor

    def part(rows: np.ndarray) -> Split | None:
        if not rows.size:
            return None
        return Split(fitted.transform(x[rows]), fitted.encode_target(y[rows]))

    train = part(train_rows)
    assert train is not None  # split_indices leaves at least one training row
    return PreparedData(train=train, val=part(val_rows), test=part(test_rows), preprocessor=fitted)
