"""The learning target: task detection, class encoding and regression-target scaling.

:func:`detect_task` is used twice with the same rule: by the pipeline on the whole target column
(the split must know whether to stratify) and by :class:`TargetEncoder` through the preprocessor.

Rule for ``task: auto``: a boolean or non-numeric target is classification; a numeric one with a
non-integer value is regression; an integer-valued one is classification when it has at most
:data:`MAX_AUTO_CLASSES` distinct values, else regression.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from batchlab.errors import DataError

__all__ = [
    "MAX_AUTO_CLASSES",
    "TargetEncoder",
    "detect_task",
    "distinct_value_strings",
    "is_number",
    "missing_mask",
    "resolve_task",
    "row_number",
    "value_strings",
]

Task = Literal["classification", "regression"]

MAX_AUTO_CLASSES = 20
"""Largest number of distinct integer values that ``task: auto`` reads as classes."""


def missing_mask(values: pd.Series) -> np.ndarray:
    """Which values are missing: NaN / None, and for numbers also ±inf. Shape ``(n,)``, bool."""
    mask = np.asarray(values.isna().to_numpy(dtype=bool))
    if is_number(values):
        mask = mask | ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
    return mask


def detect_task(values: pd.Series) -> Task:
    """Classification or regression for a target column, by the module's rule.

    Args:
        values: the target, shape ``(n,)``; missing values are ignored.

    Example:
        >>> detect_task(pd.Series([0.5, 1.5])), detect_task(pd.Series([1, 2, 1]))
        ('regression', 'classification')
    """
    present = values[~missing_mask(values)]
    if not is_number(present):
        return "classification"
    numbers = present.to_numpy(dtype=np.float64)
    if not np.all(numbers == np.round(numbers)):
        return "regression"
    return "classification" if len(np.unique(numbers)) <= MAX_AUTO_CLASSES else "regression"


def resolve_task(setting: str, values: pd.Series) -> Task:
    """``setting`` (``data.task``) when it names a task, else :func:`detect_task` of ``values``."""
    if setting == "classification":
        return "classification"
    if setting == "regression":
        return "regression"
    return detect_task(values)


def value_strings(values: pd.Series) -> pd.Series:
    """Values as text, the form in which classes and categories are stored.

    Integer-valued numbers print without a decimal point (``3.0`` → ``"3"``), so a column read as
    float because of a missing cell gives the same names as an integer column; text is stripped.
    Missing values stay NaN. Same index as ``values``.
    """
    texts = np.full(len(values), np.nan, dtype=object)  # filled in NumPy: a masked Series assignment is slow
    present = ~values.isna().to_numpy(dtype=bool)
    if is_number(values):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        whole = present & np.isfinite(numbers) & (numbers == np.round(numbers))
        other = present & ~whole
        texts[whole] = numbers[whole].astype(np.int64).astype(str)
        texts[other] = numbers[other].astype(str)
    else:
        texts[present] = values[present].astype(str).str.strip().to_numpy(dtype=object)
    return pd.Series(texts, index=values.index, dtype=object)


def distinct_value_strings(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The texts of :func:`value_strings` without a Python string per row when the values are numbers.

    Returns:
        ``(texts, inverse)``: object array of texts, and int64 ``inverse`` of shape ``(n,)`` such that
        row ``i``'s text is ``texts[inverse[i]]``. For numbers without missing values, ``texts`` holds
        one text per distinct value (a few classes cost a few strings, not one per row); otherwise
        one per row.
    """
    if is_number(values) and not values.isna().any():
        unique, inverse = np.unique(values.to_numpy(dtype=np.float64), return_inverse=True)
        return value_strings(pd.Series(unique)).to_numpy(dtype=object), inverse.reshape(-1).astype(np.int64)
    return value_strings(values).to_numpy(dtype=object), np.arange(len(values), dtype=np.int64)


class TargetEncoder:
    """Encodes a target column: class indices (classification) or scaled floats (regression).

    Args:
        task: ``"classification"`` or ``"regression"`` (already resolved).
        scale: regression only: standardize with the training mean and standard deviation.
        label: how error messages name the target, e.g. ``"data.target: column 'income'"``.

    Attributes:
        classes_: sorted class names (numbers sorted numerically, then written as text); the class
            index is the position. ``None`` for regression.
        mean_: regression: the training mean subtracted (0.0 when not scaling), in target units.
        std_: regression: the training standard deviation divided by (1.0 when not scaling or
            when it is 0), in target units.
    """

    classes_: list[str] | None
    mean_: float
    std_: float

    def __init__(self, task: Task, *, scale: bool = True, label: str = "data.target") -> None:
        self.task = task
        self.scale = scale
        self.label = label

    def fit(self, values: pd.Series) -> TargetEncoder:
        """Learn the classes or the scaling from training targets (no missing values), shape ``(n,)``."""
        if self.task == "classification":
            if is_number(values):
                unique = np.unique(values.to_numpy(dtype=np.float64))
                classes = list(value_strings(pd.Series(unique)))
            else:
                classes = sorted(set(value_strings(values)))
            if len(classes) < 2:
                raise DataError(
                    f"{self.label} has a single class '{classes[0] if classes else ''}'; "
                    "classification needs at least 2"
                )
            self.classes_, self.mean_, self.std_ = classes, 0.0, 1.0
        else:
            numbers = self._numbers(values)
            self.classes_ = None
            self.mean_ = float(numbers.mean()) if self.scale else 0.0
            std = float(numbers.std()) if self.scale else 1.0
            self.std_ = std if std > 0 else 1.0
        return self

    def transform(self, values: pd.Series) -> np.ndarray:
        """Encode targets: int64 class indices, or float32 ``(value - mean_) / std_``. Shape ``(n,)``.

        Raises:
            DataError: a missing value, a class not seen in training, or a non-numeric regression value.
        """
        missing = missing_mask(values)
        if missing.any():
            row = row_number(values, int(np.argmax(missing)))
            raise DataError(f"{self.label} has a missing value at row {row}")
        if self.classes_ is None:
            return ((self._numbers(values) - self.mean_) / self.std_).astype(np.float32)
        texts, inverse = distinct_value_strings(values)
        known = np.asarray(pd.Index(self.classes_, dtype=object).get_indexer(texts), dtype=np.int64)
        codes: np.ndarray = np.asarray(known[inverse], dtype=np.int64)
        unseen = codes < 0
        if unseen.any():
            position = int(np.argmax(unseen))
            shown = ", ".join(self.classes_[:10]) + (", ..." if len(self.classes_) > 10 else "")
            raise DataError(
                f"{self.label} holds '{texts[inverse[position]]}' (row {row_number(values, position)}), "
                f"a class not seen in training; known classes: {shown}"
            )
        return codes

    def inverse(self, encoded: torch.Tensor) -> torch.Tensor:
        """Regression outputs back to target units: ``encoded * std_ + mean_``, any shape.

        Classification indices are returned unchanged (look names up in ``classes_``).
        """
        if self.classes_ is not None:
            return encoded
        return encoded * self.std_ + self.mean_

    def state_dict(self) -> dict[str, Any]:
        """The settings and learned state, JSON-serializable."""
        return {
            "task": self.task,
            "scale": self.scale,
            "label": self.label,
            "classes": self.classes_,
            "mean": self.mean_,
            "std": self.std_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TargetEncoder:
        """Rebuild a fitted encoder from :meth:`state_dict`."""
        encoder = cls(state["task"], scale=bool(state["scale"]), label=str(state["label"]))
        classes = state["classes"]
        encoder.classes_ = None if classes is None else [str(c) for c in classes]
        encoder.mean_, encoder.std_ = float(state["mean"]), float(state["std"])
        return encoder

    def _numbers(self, values: pd.Series) -> np.ndarray:
        if is_number(values):
            return np.asarray(values.to_numpy(dtype=np.float64))
        parsed = pd.to_numeric(values, errors="coerce")
        bad = parsed.isna().to_numpy(dtype=bool)
        if bad.any():
            position = int(np.argmax(bad))
            raise DataError(
                f"{self.label} holds the non-numeric value '{values.iloc[position]}' (row "
                f"{row_number(values, position)}); regression needs numbers; set data.task: classification"
            )
        return np.asarray(parsed.to_numpy(dtype=np.float64))


def is_number(values: pd.Series) -> bool:
    """Whether ``values`` has a numeric dtype other than bool."""
    return bool(pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype))


def row_number(values: pd.Series, position: int) -> int:
    """1-based data row of ``values.iloc[position]`` for error messages.

    Tables keep the row numbers of the file in their index (from 0) through splitting, so this is the
    index label + 1; with a non-integer index it is ``position + 1``.
    """
    label = values.index[position]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1
