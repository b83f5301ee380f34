"""Evaluation metrics: classification scores from a confusion matrix, and regression errors.

Pure functions: tensors in, Python numbers out. They agree with ``sklearn.metrics`` (``accuracy_score``,
``precision_recall_fscore_support(average="macro", zero_division=0)``, ``confusion_matrix``,
``mean_squared_error``, ``mean_absolute_error``, ``r2_score``). Classification scores are computed from
the confusion matrix, so a caller can stream them: sum :func:`confusion_matrix` over batches, then call
:func:`metrics_from_confusion` once.

Example:
    >>> import torch
    >>> m = classification_metrics(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), num_classes=3)
    >>> m["accuracy"], m["confusion_matrix"]
    (0.75, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["classification_metrics", "confusion_matrix", "metrics_from_confusion", "regression_metrics"]


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count (true class, predicted class) pairs.

    Args:
        y_true: true class indices, shape ``(n,)``, integers in ``[0, num_classes)``.
        y_pred: predicted class indices, shape ``(n,)``, integers in ``[0, num_classes)``.
        num_classes: number of classes ``C``.

    Returns:
        Counts, shape ``(C, C)``, int64, on ``y_true``'s device: entry ``[i, j]`` is the number of
        samples of true class ``i`` predicted as class ``j``.

    Raises:
        ValueError: shapes differ or are not 1-D, ``num_classes < 1``, or a label is outside ``[0, C)``.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"expected y_true and y_pred of the same shape (n,), got {tuple(y_true.shape)} and {tuple(y_pred.shape)}"
        )
    y_true = y_true.long()
    y_pred = y_pred.long().to(y_true.device)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(
                f"{name} holds labels in [{int(labels.min())}, {int(labels.max())}], outside [0, {num_classes})"
            )
    counts = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def metrics_from_confusion(cm: torch.Tensor) -> dict[str, Any]:
    """Accuracy, macro precision / recall / F1 and the matrix itself, from a confusion matrix.

    Macro averages run over the classes that occur in the true or the predicted labels (a row or
    column with a non-zero count), as scikit-learn does when ``labels`` is not given; a class's
    precision (recall) is 0 when it is never predicted (never true), as with ``zero_division=0``.
    F1 of a class is ``2 tp / (2 tp + fp + fn)`` and ``f1_macro`` is the mean of those (not the
    harmonic mean of the macro precision and recall).

    Args:
        cm: counts, shape ``(C, C)``, rows = true class, columns = predicted class.

    Returns:
        ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro`` (floats in ``[0, 1]``) and
        ``confusion_matrix`` (``C`` lists of ``C`` ints).

    Raises:
        ValueError: the matrix is not square or counts no samples.
    """
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"expected a square confusion matrix, got shape {tuple(cm.shape)}")
    counts = cm.to(torch.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("the confusion matrix counts no samples; metrics need at least one")
    tp = counts.diagonal()
    predicted = counts.sum(dim=0)  # tp + fp per class
    actual = counts.sum(dim=1)  # tp + fn per class
    present = (predicted + actual) > 0
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), 0.0)[present]
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), 0.0)[present]
    f1 = (2 * tp / (predicted + actual).clamp(min=1))[present]
    return {
        "accuracy": float(tp.sum() / total),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "confusion_matrix": [[int(v) for v in row] for row in cm.tolist()],
    }


def classification_metrics(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracy, macro precision / recall / F1 and the confusion matrix of predicted class labels.

    Args:
        y_true: true class indices, shape ``(n,)``, int64 in ``[0, num_classes)``.
        y_pred: predicted class indices (e.g. ``logits.argmax(1)``), shape ``(n,)``, int64.
        num_classes: number of classes ``C``; sets the size of the confusion matrix.

    Returns:
        A dict with ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro`` (floats) and
        ``confusion_matrix`` (list of ``C`` rows of ``C`` ints; rows = true class, columns = predicted).
        See :func:`metrics_from_confusion` for the averaging rules.

    Raises:
        ValueError: mismatched shapes, labels outside ``[0, C)``, or no samples.
    """
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, num_classes))


def regression_metrics(y_true: torch.Tensor, y_pred: torch.Tensor) -> dict[str, float]:
    """Mean squared error, mean absolute error and the coefficient of determination R².

    Computed in float64. ``mse`` and ``mae`` are in the target's units (squared for ``mse``).
    ``r2 = 1 - SS_res / SS_tot`` with ``SS_tot = sum((y_true - mean(y_true))**2)``. Like scikit-learn's
    ``r2_score`` (``force_finite=True``): when ``SS_tot == 0`` (a constant target) ``r2`` is 1.0 for a
    perfect prediction and 0.0 otherwise, and with fewer than two samples it is ``nan``. For several
    outputs, every metric is the mean over outputs (scikit-learn's ``"uniform_average"``).

    Args:
        y_true: targets, shape ``(n,)`` or ``(n, outputs)``.
        y_pred: predictions, the same shape (a ``(n, 1)`` column also pairs with a ``(n,)`` vector).

    Returns:
        ``{"mse": ..., "mae": ..., "r2": ...}`` as floats.

    Raises:
        ValueError: shapes differ, are not 1-D or 2-D, or there are no samples.
    """
    if y_true.ndim and y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel() == y_true.shape[0]:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)  # a (n, 1) column against a (n,) vector
    if y_true.shape != y_pred.shape or y_true.ndim not in (1, 2):
        raise ValueError(
            f"expected y_true and y_pred of the same shape (n,) or (n, outputs), "
            f"got {tuple(y_true.shape)} and {tuple(y_pred.shape)}"
        )
    if y_true.shape[0] == 0:
        raise ValueError("regression metrics need at least one sample, got 0")
    target = y_true.to(torch.float64).reshape(y_true.shape[0], -1)
    error = y_pred.to(device=target.device, dtype=torch.float64).reshape(target.shape) - target
    mse = float(error.square().mean())
    mae = float(error.abs().mean())
    if target.shape[0] < 2:
        return {"mse": mse, "mae": mae, "r2": float("nan")}
    ss_res = error.square().sum(dim=0)
    ss_tot = (target - target.mean(dim=0)).square().sum(dim=0)
    r2 = torch.where(
        ss_tot > 0,
        1.0 - ss_res / torch.where(ss_tot > 0, ss_tot, 1.0),
        torch.where(ss_res > 0, 0.0, 1.0).to(torch.float64),
    )
    return {"mse": mse, "mae": mae, "r2": float(r2.mean())}
