"""In-memory arrays as a run's data: the split, scaling fitted on the training rows, encoded targets."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from batchlab.config import DataConfig, SplitConfig
from batchlab.data import in_memory
from batchlab.data.in_memory import prepare_arrays
from batchlab.data.split import split_indices
from batchlab.errors import DataError


def test_docstring_examples() -> None:
    result = doctest.testmod(in_memory)
    assert result.failed == 0 and result.attempted > 0


def test_regression_targets_are_standardized_with_training_statistics() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), rng.normal(10.0, 4.0, size=50)
    data = prepare_arrays(DataConfig(split=SplitConfig(val=0.2, test=0.0)), x, y, task="regression")
    pre = data.preprocessor
    train_rows, _, _ = split_indices(50, val=0.2, test=0.0, seed=0, stratify_labels=None)
    assert len(train_rows) == len(data.train) == 40
    assert pre.target_mean_ == pytest.approx(y[train_rows].mean())
    assert pre.target_std_ == pytest.approx(y[train_rows].std())
    np.testing.assert_allclose(data.train.y.numpy().mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(pre.scaler_.center_, x[train_rows].mean(axis=0))
    assert data.num_outputs == 1 and data.task == "regression" and data.val is not None and len(data.val) == 10


def test_classification_split_is_stratified_and_targets_stay_indices() -> None:
    x, y = np.arange(60.0).reshape(30, 2), np.repeat([0, 1, 2], 10)
    data = prepare_arrays(
        DataConfig(split=SplitConfig(val=0.2, test=0.2)), x, y, task="classification", classes=["a", "b", "c"]
    )
    for part in (data.train, data.val, data.test):
        assert np.bincount(part.y.numpy(), minlength=3).tolist() == [len(part) // 3] * 3
    assert data.classes == ["a", "b", "c"] and data.num_outputs == 3


def test_rows_and_targets_must_match() -> None:
    with pytest.raises(DataError, match="^data: 4 feature rows but 3 targets"):
        prepare_arrays(DataConfig(), np.zeros((4, 2)), np.zeros(3), task="regression")
