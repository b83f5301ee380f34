from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from batchlab.train.metrics import (
    classification_metrics,
    confusion_matrix,
    metrics_from_confusion,
    regression_metrics,
)


def _sklearn_classification(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> dict[str, object]:
    t, p = y_true.numpy(), y_pred.numpy()
    precision, recall, f1, _ = skm.precision_recall_fscore_support(t, p, average="macro", zero_division=0)
    return {
        "accuracy": skm.accuracy_score(t, p),
        "precision_macro": precision,
        "recall_macro": recall,
        "f1_macro": f1,
        "confusion_matrix": skm.confusion_matrix(t, p, labels=list(range(num_classes))).tolist(),
    }


def _assert_same(ours: dict[str, object], ref: dict[str, object]) -> None:
    assert set(ours) == set(ref)
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key
        assert isinstance(ours[key], float)
    assert ours["confusion_matrix"] == ref["confusion_matrix"]


@pytest.mark.parametrize("seed", range(5))
def test_classification_matches_sklearn_on_random_labels(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    y_true = torch.randint(0, 5, (200,), generator=g)
    y_pred = torch.where(torch.rand(200, generator=g) < 0.6, y_true, torch.randint(0, 5, (200,), generator=g))
    _assert_same(classification_metrics(y_true, y_pred, 5), _sklearn_classification(y_true, y_pred, 5))


def test_class_missing_from_predictions() -> None:
    g = torch.Generator().manual_seed(0)
    y_true = torch.randint(0, 4, (100,), generator=g)
    y_pred = torch.randint(0, 3, (100,), generator=g)  # class 3 is never predicted: precision 0 for it
    _assert_same(classification_metrics(y_true, y_pred, 4), _sklearn_classification(y_true, y_pred, 4))


def test_class_missing_from_both_is_left_out_of_the_averages() -> None:
    # Classes 3 and 4 never occur; sklearn averages over the labels present in y_true or y_pred.
    g = torch.Generator().manual_seed(1)
    y_true = torch.randint(0, 3, (60,), generator=g)
    y_pred = torch.randint(0, 3, (60,), generator=g)
    y_pred[:5] = 4  # ...but a prediction of class 4 brings it in
    ours = classification_metrics(y_true, y_pred, 6)
    _assert_same(ours, _sklearn_classification(y_true, y_pred, 6))
    assert len(ours["confusion_matrix"]) == 6


def test_class_only_predicted() -> None:
    y_true = torch.tensor([0, 0, 1, 1])
    y_pred = torch.tensor([0, 2, 1, 2])
    _assert_same(classification_metrics(y_true, y_pred, 3), _sklearn_classification(y_true, y_pred, 3))


def test_known_values() -> None:
    m = classification_metrics(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), 2)
    assert m["accuracy"] == 0.75
    assert m["precision_macro"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["recall_macro"] == pytest.approx((0.5 + 1) / 2)
    assert m["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]


def test_confusion_matrices_add_up_over_batches() -> None:
    g = torch.Generator().manual_seed(2)
    y_true, y_pred = torch.randint(0, 3, (90,), generator=g), torch.randint(0, 3, (90,), generator=g)
    summed = sum(confusion_matrix(t, p, 3) for t, p in zip(y_true.split(32), y_pred.split(32), strict=True))
    assert isinstance(summed, torch.Tensor)
    assert metrics_from_confusion(summed) == classification_metrics(y_true, y_pred, 3)


def test_invalid_labels_raise() -> None:
    with pytest.raises(ValueError, match="outside"):
        classification_metrics(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="same shape"):
        classification_metrics(torch.tensor([0, 1]), torch.tensor([0]), 3)
    with pytest.raises(ValueError, match="no samples"):
        classification_metrics(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 3)


@pytest.mark.parametrize("seed", range(3))
def test_regression_matches_sklearn(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    y_true = torch.randn(150, generator=g) * 3 + 1
    y_pred = y_true + torch.randn(150, generator=g)
    ours = regression_metrics(y_true, y_pred)
    t, p = y_true.double().numpy(), y_pred.double().numpy()
    assert ours["mse"] == pytest.approx(skm.mean_squared_error(t, p), rel=1e-10)
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-10)
    assert ours["r2"] == pytest.approx(skm.r2_score(t, p), rel=1e-10)


def test_regression_with_several_outputs_averages_like_sklearn() -> None:
    g = torch.Generator().manual_seed(0)
    y_true = torch.randn(50, 3, generator=g) * torch.tensor([1.0, 5.0, 0.1])
    y_pred = y_true + torch.randn(50, 3, generator=g) * 0.5
    ours = regression_metrics(y_true, y_pred)
    t, p = y_true.double().numpy(), y_pred.double().numpy()
    assert ours["mse"] == pytest.approx(skm.mean_squared_error(t, p), rel=1e-10)
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-10)
    assert ours["r2"] == pytest.approx(skm.r2_score(t, p), rel=1e-10)


@pytest.mark.parametrize(
    ("y_pred", "expected"), [([2.0, 2.0, 2.0], 1.0), ([2.0, 2.5, 1.0], 0.0)], ids=["perfect", "imperfect"]
)
def test_r2_of_a_constant_target_matches_sklearn(y_pred: list[float], expected: float) -> None:
    y_true = [2.0, 2.0, 2.0]
    ours = regression_metrics(torch.tensor(y_true), torch.tensor(y_pred))["r2"]
    assert ours == expected == skm.r2_score(np.array(y_true), np.array(y_pred))


def test_r2_of_one_sample_is_nan() -> None:
    m = regression_metrics(torch.tensor([1.0]), torch.tensor([2.0]))
    assert m["mse"] == 1.0 and m["mae"] == 1.0 and math.isnan(m["r2"])


def test_regression_pairs_a_column_with_a_vector() -> None:
    y_true, y_pred = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([[1.5], [2.0], [3.0]])
    assert regression_metrics(y_true, y_pred) == regression_metrics(y_true, y_pred[:, 0])


def test_regression_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        regression_metrics(torch.zeros(3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="same shape"):
        regression_metrics(torch.zeros(3), torch.zeros(4))
