"""Turning the feature columns of a table into a float matrix: imputation, one-hot and scaling.

Each feature column is numeric or categorical. Categorical: the column is ``data.categorical``, or
its dtype is bool or text and at most 90% of its present cells parse as numbers. Numeric: the column
is ``data.numeric``, has a numeric dtype, or is text that is mostly (≥ 90%) numbers; any other
text in it is an error that says how to fix it.

* numeric: missing and ±inf cells take the training median, then the column is scaled:
  ``standard`` (training mean / std, std 0 → 1), ``minmax`` (training min / range to [0, 1],
  range 0 → 1) or ``none``. Statistics are taken after imputation, as in a scikit-learn pipeline.
* categorical: one indicator column per training category (sorted); missing cells take the
  training mode; a category not seen in training gives an all-zero block. Indicators are not scaled.

Cardinality: a categorical column with more than :data:`MANY_CATEGORIES` (100) distinct training values
logs a warning, and one with more than ``max_categories`` (``data.max_categories``, default 1,000) is an
error: thousands of one-hot features are almost never what was meant. Such a column is usually free text
(then ``data.text`` makes the task a text classification of it, see :mod:`batchlab.data.text`) or an id
(``data.drop``); the message says which it looks like.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from batchlab.data.target import is_number, row_number, value_strings
from batchlab.errors import DataError, did_you_mean

__all__ = ["MANY_CATEGORIES", "CategoricalColumn", "NumericColumn", "TableEncoder"]

logger = logging.getLogger(__name__)

_MOSTLY_NUMBERS = 0.9
MANY_CATEGORIES = 100
"""Distinct training values above which a categorical column gets a warning."""
_TEXT_SHARE = 0.5  # a column is free text when at least this share of its distinct values hold several words


@dataclass(frozen=True)
class NumericColumn:
    """A fitted numeric column: ``(value or median - center) / scale``, all in the column's units."""

    name: str
    median: float
    center: float
    scale: float


@dataclass(frozen=True)
class CategoricalColumn:
    """A fitted categorical column: one-hot over ``categories``; ``mode`` fills missing cells."""

    name: str
    categories: tuple[str, ...]
    mode: str | None


class TableEncoder:
    """Encodes the feature columns of a frame into a ``(rows, features)`` float32 matrix.

    Args:
        scale: ``"standard"``, ``"minmax"`` or ``"none"``, for numeric columns.
        missing: ``"impute"`` (training median / mode) or ``"error"`` (any missing cell raises).
        categorical: columns forced to be categorical.
        numeric: columns forced to be numeric.
        max_categories: most distinct training values of a categorical column; more is a
            :class:`~batchlab.errors.DataError` (``data.max_categories``).

    Attributes:
        columns_: the fitted columns, in the frame's column order.
        feature_names_: one name per output feature: the column name for numeric columns,
            ``"column=category"`` for indicators.
    """

    columns_: list[NumericColumn | CategoricalColumn]
    feature_names_: list[str]

    def __init__(
        self,
        *,
        scale: str = "standard",
        missing: str = "impute",
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
        max_categories: int = 1000,
    ) -> None:
        self.scale = scale
        self.missing = missing
        self.categorical = list(categorical or [])
        self.numeric = list(numeric or [])
        self.max_categories = max_categories

    def fit(self, frame: pd.DataFrame) -> TableEncoder:
        """Learn column kinds, medians, modes, categories and scaling from the training features.

        Raises:
            DataError: a forced column is absent or in both lists; a numeric column holds text;
                a missing cell with ``missing="error"``; a categorical column with more than
                ``max_categories`` distinct values.
        """
        names = [str(c) for c in frame.columns]
        for key, forced in (("categorical", self.categorical), ("numeric", self.numeric)):
            for name in forced:
                if name not in names:
                    raise DataError(f"data.{key}: column '{name}' is not a feature column; {did_you_mean(name, names)}")
        both = sorted(set(self.categorical) & set(self.numeric))
        if both:
            raise DataError(f"data: column '{both[0]}' is listed in both data.categorical and data.numeric")
        self.columns_ = [self._fit_column(frame[name], name) for name in names]
        self.feature_names_ = _feature_names(self.columns_)
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode features with the fitted state. Returns shape ``(rows, len(feature_names_))``, float32.

        Columns not seen in training are ignored; training columns must be present.

        Raises:
            DataError: a training column is absent; numeric text; a missing cell with ``missing="error"``.
        """
        present = [str(c) for c in frame.columns]
        blocks = []
        for spec in self.columns_:
            column = _training_column(frame, spec.name, present)
            if isinstance(spec, NumericColumn):
                values = self._numbers(column, spec.name)
                values = np.where(np.isnan(values), spec.median, values)
                blocks.append(((values - spec.center) / spec.scale)[:, None])
            else:
                blocks.append(self._one_hot(column, spec))
        if not blocks:
            return np.zeros((frame.shape[0], 0), dtype=np.float32)
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def unscaled(self, frame: pd.DataFrame) -> np.ndarray:
        """The features before imputation and scaling of the numeric columns: what an exported model takes.

        Numeric columns keep their values (NaN where missing); categorical columns are one-hot encoded as in
        :meth:`transform`. Shape ``(rows, len(feature_names_))``, float32. An exported model (see
        :mod:`batchlab.export`) fills and scales the numeric columns itself.

        Raises:
            DataError: as :meth:`transform`.
        """
        present = [str(c) for c in frame.columns]
        blocks = []
        for spec in self.columns_:
            column = _training_column(frame, spec.name, present)
            if isinstance(spec, NumericColumn):
                blocks.append(self._numbers(column, spec.name)[:, None])
            else:
                blocks.append(self._one_hot(column, spec))
        if not blocks:
            return np.zeros((frame.shape[0], 0), dtype=np.float32)
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted columns as JSON-serializable values."""
        return {
            "scale": self.scale,
            "missing": self.missing,
            "categorical": self.categorical,
            "numeric": self.numeric,
            "columns": [
                {"kind": "numeric" if isinstance(s, NumericColumn) else "categorical", **asdict(s)}
                for s in self.columns_
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableEncoder:
        """Rebuild a fitted encoder from :meth:`state_dict`."""
        encoder = cls(
            scale=state["scale"],
            missing=state["missing"],
            categorical=state["categorical"],
            numeric=state["numeric"],
        )
        columns: list[NumericColumn | CategoricalColumn] = []
        for item in state["columns"]:
            if item["kind"] == "numeric":
                columns.append(
                    NumericColumn(str(item["name"]), float(item["median"]), float(item["center"]), float(item["scale"]))
                )
            else:
                columns.append(
                    CategoricalColumn(
                        str(item["name"]),
                        tuple(str(c) for c in item["categories"]),
                        None if item["mode"] is None else str(item["mode"]),
                    )
                )
        encoder.columns_ = columns
        encoder.feature_names_ = _feature_names(columns)
        return encoder

    def _fit_column(self, column: pd.Series, name: str) -> NumericColumn | CategoricalColumn:
        if self._is_categorical(column, name):
            texts = self._texts(column, name).dropna()
            categories = tuple(sorted(set(texts)))
            if len(categories) > self.max_categories:
                raise DataError(
                    f"data: column '{name}' has {len(categories):,} distinct values in the training split, more "
                    f"than data.max_categories ({self.max_categories:,}) one-hot features; "
                    f"{_what_to_do(name, categories)}, or raise data.max_categories"
                )
            if len(categories) > MANY_CATEGORIES:
                logger.warning(
                    "categorical column '%s' has %d categories, one feature each (more than %d); %s",
                    name,
                    len(categories),
                    MANY_CATEGORIES,
                    _what_to_do(name, categories),
                )
            counts = texts.value_counts()
            mode = min(counts.index[counts == counts.max()]) if len(counts) else None
            return CategoricalColumn(name, categories, None if mode is None else str(mode))
        values = self._numbers(column, name)
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            logger.warning("numeric column '%s' has no values in the training split; it is filled with 0", name)
        median = float(np.median(finite)) if finite.size else 0.0
        filled = np.where(np.isnan(values), median, values)
        if self.scale == "standard":
            center, spread = float(filled.mean()), float(filled.std())
        elif self.scale == "minmax":
            center, spread = float(filled.min()), float(filled.max() - filled.min())
        else:
            center, spread = 0.0, 1.0
        return NumericColumn(name, median, center, spread if spread > 0 else 1.0)

    def _is_categorical(self, column: pd.Series, name: str) -> bool:
        if name in self.categorical or name in self.numeric:
            return name in self.categorical
        if pd.api.types.is_bool_dtype(column.dtype):
            return True
        if is_number(column):
            return False
        present = column.dropna()
        if present.empty:
            return True
        parsed = pd.to_numeric(present, errors="coerce")
        return bool(parsed.notna().mean() < _MOSTLY_NUMBERS)

    def _numbers(self, column: pd.Series, name: str) -> np.ndarray:
        """The column as float64 with NaN for missing and ±inf, shape ``(rows,)``."""
        if is_number(column) or pd.api.types.is_bool_dtype(column.dtype):
            values = np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            parsed = pd.to_numeric(column, errors="coerce")
            bad = (parsed.isna() & column.notna()).to_numpy(dtype=bool)
            if bad.any():
                position = int(np.argmax(bad))
                raise DataError(
                    f"data: column '{name}' is numeric but row {row_number(column, position)} holds "
                    f"'{column.iloc[position]}'; add it to data.categorical or data.missing_values"
                )
            values = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan))
        missing = ~np.isfinite(values)
        if missing.any():
            if self.missing == "error":
                position = int(np.argmax(missing))
                self._reject(name, row_number(column, position), values[position])
            values = np.where(missing, np.nan, values)
        return values

    def _texts(self, column: pd.Series, name: str) -> pd.Series:
        texts = value_strings(column)
        if self.missing == "error":
            missing = texts.isna().to_numpy(dtype=bool)
            if missing.any():
                position = int(np.argmax(missing))
                self._reject(name, row_number(column, position), column.iloc[position])
        return texts

    def _one_hot(self, column: pd.Series, spec: CategoricalColumn) -> np.ndarray:
        texts = self._texts(column, spec.name)
        if spec.mode is not None:
            texts = texts.fillna(spec.mode)
        codes = pd.Index(list(spec.categories), dtype=object).get_indexer(texts)
        block = np.zeros((len(codes), len(spec.categories)), dtype=np.float32)
        known = np.flatnonzero(codes >= 0)  # -1: a category unseen in training, left all-zero
        block[known, codes[known]] = 1.0
        return block

    @staticmethod
    def _reject(name: str, row: int, value: Any) -> None:
        raise DataError(
            f"data: column '{name}' holds a missing value ({value}) at row {row} and data.missing is "
            "'error'; fill it in, or set data.missing: impute"
        )


def _training_column(frame: pd.DataFrame, name: str, present: list[str]) -> pd.Series:
    """The column ``name`` of ``frame``; a one-line error when the input lacks it."""
    if name not in present:
        raise DataError(
            f"data: the input has no column '{name}', which the model was trained on; {did_you_mean(name, present)}"
        )
    return frame[name]


def _what_to_do(name: str, categories: Sequence[str]) -> str:
    """Advice for a column with many categories: text classification for free text, else drop it."""
    words = sum(len(value.split()) > 1 for value in categories)
    if words >= _TEXT_SHARE * len(categories):
        return (
            f"it holds free text ({words / len(categories):.0%} of its values have several words): set "
            f"data.text: {name} to classify the text (text classification), or add it to data.drop"
        )
    return (
        f"if it is an id, add it to data.drop; if it holds numbers, to data.numeric; if it is text, set "
        f"data.text: {name}"
    )


def _feature_names(columns: Sequence[NumericColumn | CategoricalColumn]) -> list[str]:
    names: list[str] = []
    for spec in columns:
        if isinstance(spec, NumericColumn):
            names.append(spec.name)
        else:
            names += [f"{spec.name}={category}" for category in spec.categories]
    return names
