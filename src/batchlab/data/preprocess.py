"""The preprocessor: raw training rows in, float tensors and encoded targets out.

:class:`Preprocessor` follows the scikit-learn estimator contract: settings in ``__init__``,
learning only in :meth:`Preprocessor.fit` (on the training split), learned attributes ending in
``_``, and a JSON-serializable state (:meth:`~Preprocessor.state_dict` /
:meth:`~Preprocessor.from_state`) so that evaluate and predict reuse it without refitting.

It composes three parts: :class:`~batchlab.data.target.TargetEncoder` (task, classes, target
scaling), and for the features either :class:`~batchlab.data.table_encoder.TableEncoder` (tables)
or :class:`~batchlab.data.array_scaler.ArrayScaler` (vectors and images).

Example:
    >>> from batchlab.config import DataConfig
    >>> from batchlab.data.sources import load_source
    >>> cfg = DataConfig(source="iris")
    >>> raw = load_source(cfg)
    >>> pre = Preprocessor.from_config(cfg).fit(raw)
    >>> x, y = pre.transform(raw)
    >>> tuple(x.shape), pre.task_, pre.classes_
    ((150, 4), 'classification', ['setosa', 'versicolor', 'virginica'])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from batchlab.data.array_scaler import ArrayScaler
from batchlab.data.sources import RawArrays, RawTable
from batchlab.data.table_encoder import TableEncoder
from batchlab.data.target import TargetEncoder, Task, missing_mask, resolve_task
from batchlab.errors import CheckpointError, DataError

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = ["STATE_FORMAT", "Preprocessor", "drop_unlabelled", "target_values"]

logger = logging.getLogger(__name__)

STATE_FORMAT = "batchlab.preprocessor/1"
"""The ``format`` key of :meth:`Preprocessor.state_dict`; bumped when the state's layout changes."""


def target_values(raw: RawTable | RawArrays) -> pd.Series:
    """The target of ``raw`` as a series, shape ``(n,)``; for tables its index holds the row numbers.

    Raises:
        DataError: ``raw`` has no target.
    """
    if isinstance(raw, RawTable):
        if raw.target is None:
            raise DataError("data.target: the input has no target column")
        return raw.frame[raw.target]
    if raw.y is None:
        raise DataError("data: the input has no labels")
    return pd.Series(raw.y)


def drop_unlabelled(raw: RawTable | RawArrays, *, where: str = "the data") -> RawTable | RawArrays:
    """``raw`` without the rows whose target is missing (NaN, ±inf, empty); logs a warning if any.

    Raises:
        DataError: no row has a target.
    """
    missing = missing_mask(target_values(raw))
    if not missing.any():
        return raw
    if missing.all():
        raise DataError(f"data.target: every row of {where} has a missing target")
    logger.warning(
        "%d of %d rows of %s have a missing target and are dropped; fill them in or remove them to "
        "silence this warning",
        int(missing.sum()),
        missing.size,
        where,
    )
    return raw.take(np.flatnonzero(~missing))


class Preprocessor:
    """Learns feature scaling, encoding and the target's encoding on the training split.

    Args:
        task: ``"auto"``, ``"classification"`` or ``"regression"`` (``data.task``).
        scale: ``"standard"``, ``"minmax"`` or ``"none"`` (``data.scale``).
        missing: ``"impute"`` or ``"error"`` (``data.missing``).
        categorical: table columns forced categorical (``data.categorical``).
        numeric: table columns forced numeric (``data.numeric``).
        scale_target: standardize a regression target (``data.scale_target``).
        max_categories: most distinct values of a categorical column (``data.max_categories``).

    Attributes:
        task_: ``"classification"`` or ``"regression"``.
        classes_: class names, class index = position; ``None`` for regression. Integer labels
            appear as text (``"0"``, ``"1"``, ...), sorted numerically.
        input_shape_: shape of one transformed sample: ``(features,)`` or ``(C, H, W)``.
        is_image_: whether samples are images.
        feature_names_: one name per feature for tables and vectors; ``None`` for images.
        target_name_: the table's target column; ``None`` for arrays.
        target_mean_: regression: mean subtracted from the target, in its units; ``None`` otherwise.
        target_std_: regression: std the target is divided by, in its units; ``None`` otherwise.
        target_: the fitted :class:`TargetEncoder`.
        features_: the fitted :class:`TableEncoder` or :class:`ArrayScaler`.
    """

    task_: Task
    target_name_: str | None
    target_: TargetEncoder
    features_: TableEncoder | ArrayScaler

    def __init__(
        self,
        *,
        task: str = "auto",
        scale: str = "standard",
        missing: str = "impute",
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
        scale_target: bool = True,
        max_categories: int = 1000,
    ) -> None:
        self.task = task
        self.scale = scale
        self.missing = missing
        self.categorical = list(categorical or [])
        self.numeric = list(numeric or [])
        self.scale_target = scale_target
        self.max_categories = max_categories

    @classmethod
    def from_config(cls, cfg: DataConfig, *, task: str | None = None) -> Preprocessor:
        """A preprocessor with the settings of a ``data`` section; ``task`` overrides ``cfg.task``."""
        return cls(
            task=task or cfg.task,
            scale=cfg.scale,
            missing=cfg.missing,
            categorical=cfg.categorical,
            numeric=cfg.numeric,
            scale_target=cfg.scale_target,
            max_categories=cfg.max_categories,
        )

    def fit(self, raw: RawTable | RawArrays) -> Preprocessor:
        """Learn everything from the training split ``raw`` (rows without a target are dropped).

        Returns:
            ``self``, fitted.

        Raises:
            DataError: see :class:`TableEncoder`, :class:`ArrayScaler` and :class:`TargetEncoder`.
        """
        raw = drop_unlabelled(raw, where="the training split")
        values = target_values(raw)
        self.task_ = resolve_task(self.task, values)
        label = f"data.target: column '{raw.target}'" if isinstance(raw, RawTable) else "data: the labels"
        self.target_ = TargetEncoder(self.task_, scale=self.scale_target, label=label).fit(values)
        if isinstance(raw, RawTable):
            self.target_name_ = raw.target
            encoder = TableEncoder(
                scale=self.scale,
                missing=self.missing,
                categorical=self.categorical,
                numeric=self.numeric,
                max_categories=self.max_categories,
            )
            self.features_ = encoder.fit(raw.frame.drop(columns=[raw.target]))
        else:
            self.target_name_ = None
            self.features_ = ArrayScaler(scale=self.scale, missing=self.missing).fit(raw.x, image=raw.image)
        return self

    def transform(
        self, raw: RawTable | RawArrays, *, with_target: bool = True, in_place: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features and (optionally) targets as tensors, using only the fitted state.

        Args:
            raw: rows of the same kind as in :meth:`fit` (a table with the training columns, or
                arrays with the training sample shape).
            with_target: encode the target too; when false the target (if any) is ignored.
            in_place: float32 array features may be scaled in their own memory (the tensor then
                shares it): for arrays the caller made for this call, to save a copy of the data.

        Returns:
            ``(x, y)``: x float32, contiguous, ``(n, *input_shape_)``; y ``(n,)`` int64 class indices
            (classification) or float32 scaled values (regression), ``None`` without the target.

        Raises:
            DataError: wrong kind of input, missing columns or shape, a missing or unseen target.
        """
        features = self.features_
        if isinstance(raw, RawTable) and isinstance(features, TableEncoder):
            x = features.transform(raw.frame.drop(columns=[raw.target]) if raw.target is not None else raw.frame)
        elif isinstance(raw, RawArrays) and isinstance(features, ArrayScaler):
            x = features.transform(raw.x, in_place=in_place)
        else:
            trained = "a table" if isinstance(features, TableEncoder) else "arrays"
            given = "a table" if isinstance(raw, RawTable) else "arrays"
            raise DataError(f"data: the input is {given} but the model was trained on {trained}")
        x_tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if not with_target:
            return x_tensor, None
        return x_tensor, torch.from_numpy(np.ascontiguousarray(self.target_.transform(target_values(raw))))

    def inverse_target(self, t: torch.Tensor) -> torch.Tensor:
        """Regression outputs (scaled) back to the target's units, any shape; classification unchanged."""
        return self.target_.inverse(t)

    @property
    def classes_(self) -> list[str] | None:
        return self.target_.classes_

    @property
    def target_mean_(self) -> float | None:
        """Regression: the training target mean subtracted (0.0 with ``scale_target`` off); else ``None``."""
        return self.target_.mean_ if self.task_ == "regression" else None

    @property
    def target_std_(self) -> float | None:
        """Regression: the training target std divided by (1.0 with ``scale_target`` off); else ``None``."""
        return self.target_.std_ if self.task_ == "regression" else None

    @property
    def input_shape_(self) -> tuple[int, ...]:
        if isinstance(self.features_, TableEncoder):
            return (len(self.features_.feature_names_),)
        return self.features_.input_shape_

    @property
    def is_image_(self) -> bool:
        return isinstance(self.features_, ArrayScaler) and self.features_.image_

    @property
    def feature_names_(self) -> list[str] | None:
        if isinstance(self.features_, TableEncoder):
            return list(self.features_.feature_names_)
        if self.features_.image_:
            return None
        return [str(i) for i in range(self.features_.input_shape_[0])]

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted state, JSON-serializable (``json.dumps`` works on it)."""
        return {
            "format": STATE_FORMAT,
            "settings": {
                "task": self.task,
                "scale": self.scale,
                "missing": self.missing,
                "categorical": self.categorical,
                "numeric": self.numeric,
                "scale_target": self.scale_target,
                "max_categories": self.max_categories,
            },
            "task": self.task_,
            "target_name": self.target_name_,
            "target": self.target_.state_dict(),
            "features": {
                "kind": "table" if isinstance(self.features_, TableEncoder) else "arrays",
                **self.features_.state_dict(),
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Preprocessor:
        """Rebuild a fitted preprocessor from :meth:`state_dict` (never refits).

        Raises:
            CheckpointError: ``state`` is not a preprocessor state of this format.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"preprocessor state has format {found!r}; expected {STATE_FORMAT!r}")
        try:
            pre = cls(**state["settings"])
            pre.task_ = state["task"]
            pre.target_name_ = state["target_name"]
            pre.target_ = TargetEncoder.from_state(state["target"])
            features = state["features"]
            pre.features_ = (
                TableEncoder.from_state(features) if features["kind"] == "table" else ArrayScaler.from_state(features)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"preprocessor state is incomplete or corrupt ({exc.__class__.__name__}: {exc})"
            ) from None
        return pre
