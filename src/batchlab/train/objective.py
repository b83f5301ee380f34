"""What is learned: the loss for a task, and how model outputs become predictions and metrics.

Three shapes of problem share one interface:

==================  ================  ======================  ==========================
task                outputs           targets                 default loss
==================  ================  ======================  ==========================
multi-class         ``(batch, K)``    ``(batch,)`` int64      cross-entropy
binary              ``(batch, 1)``    ``(batch,)`` int64 0/1  binary cross-entropy
regression          ``(batch, 1)``    ``(batch,)`` float32    mean squared error
==================  ================  ======================  ==========================

A language model predicts the next token at every position: outputs ``(batch, time, V)``, targets
``(batch, time)`` int64, cross-entropy averaged over all tokens (in nats per token).

Regression targets may be standardized for training; :attr:`Objective.target_mean` and
:attr:`Objective.target_std` map predictions back so that reported errors are in the target's units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from batchlab.errors import ConfigError
from batchlab.train.metrics import classification_metrics, regression_metrics

__all__ = ["Objective", "make_objective"]

Task = Literal["classification", "regression", "language_model"]
LossName = Literal["cross_entropy", "bce", "mse", "mae", "huber"]

_CLASSIFICATION_LOSSES = ("cross_entropy", "bce")
_REGRESSION_LOSSES = ("mse", "mae", "huber")


@dataclass(frozen=True)
class Objective:
    """A task's loss and metrics.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        num_outputs: model output width ``K`` (classes, or 1 for binary and regression).
        loss_name: one of ``cross_entropy``, ``bce``, ``mse``, ``mae``, ``huber``.
        label_smoothing: classification only, in [0, 1).
        target_mean: regression only: ``y_original = y * target_std + target_mean``.
        target_std: regression only.
        token_unit: language models: ``"char"`` (report bits per character) or ``"token"``
            (report perplexity).
    """

    task: Task
    num_outputs: int
    loss_name: LossName
    label_smoothing: float = 0.0
    target_mean: float = 0.0
    target_std: float = 1.0
    token_unit: str = "token"

    @property
    def num_classes(self) -> int:
        """Classes of a classification task (2 for a binary one)."""
        return 2 if self.num_outputs == 1 else self.num_outputs

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"

    @property
    def is_language_model(self) -> bool:
        return self.task == "language_model"

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch (a scalar tensor).

        Args:
            outputs: ``(batch, K)`` raw model outputs (logits for classification).
            targets: ``(batch,)`` class indices or (scaled) regression values.
        """
        if self.loss_name == "cross_entropy":
            if outputs.dim() == 3:  # (batch, time, V) next-token logits against (batch, time) ids
                outputs, targets = outputs.flatten(0, 1), targets.flatten()
            return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)
        if self.loss_name == "bce":
            soft = targets.to(outputs.dtype)
            if self.label_smoothing:
                soft = soft * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
            return F.binary_cross_entropy_with_logits(outputs.squeeze(-1), soft)
        values = outputs.squeeze(-1)
        if self.loss_name == "mse":
            return F.mse_loss(values, targets)
        if self.loss_name == "mae":
            return F.l1_loss(values, targets)
        return F.smooth_l1_loss(values, targets)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class indices ``(batch,)`` int64, or regression values ``(batch,)`` in the target's units."""
        if self.task != "regression":
            if self.num_outputs == 1:
                return (outputs.squeeze(-1) > 0).long()
            return outputs.argmax(dim=-1)
        return outputs.squeeze(-1) * self.target_std + self.target_mean

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(batch, classes)`` (classification only)."""
        if self.num_outputs == 1:
            p = torch.sigmoid(outputs.squeeze(-1))
            return torch.stack([1.0 - p, p], dim=-1)
        return torch.softmax(outputs, dim=-1)

    def correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Number of correct predictions in the batch, as a 0-d int64 tensor (no host sync)."""
        return (self.predict(outputs) == targets).sum()

    def unscale(self, targets: torch.Tensor) -> torch.Tensor:
        """Regression targets back in their original units."""
        return targets * self.target_std + self.target_mean

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        """Evaluation metrics of a whole split: accuracy, macro P/R/F1 and confusion matrix, or MSE/MAE/R²."""
        if self.task == "classification":
            return classification_metrics(targets, self.predict(outputs), self.num_classes)
        return regression_metrics(self.unscale(targets), self.predict(outputs))


def make_objective(
    task: Task,
    num_outputs: int,
    loss: str = "auto",
    *,
    label_smoothing: float = 0.0,
    target_mean: float = 0.0,
    target_std: float = 1.0,
    token_unit: str = "token",
) -> Objective:
    """Choose the loss for a task: ``auto`` gives cross-entropy, BCE (one output) or MSE.

    Raises:
        ConfigError: the named loss does not fit the task or the output width.
    """
    if task == "language_model":
        if loss not in ("auto", "cross_entropy"):
            raise ConfigError(f"train.loss: {loss!r} does not apply to a language model; use auto or cross_entropy")
        return Objective(task, num_outputs, "cross_entropy", label_smoothing, token_unit=token_unit)
    if loss == "auto":
        if task == "regression":
            loss = "mse"
        else:
            loss = "bce" if num_outputs == 1 else "cross_entropy"
    if task == "classification" and loss not in _CLASSIFICATION_LOSSES:
        raise ConfigError(
            f"train.loss: {loss!r} is a regression loss; for classification use auto, cross_entropy or bce"
        )
    if task == "regression" and loss not in _REGRESSION_LOSSES:
        raise ConfigError(f"train.loss: {loss!r} is a classification loss; for regression use auto, mse, mae or huber")
    if loss == "bce" and num_outputs != 1:
        raise ConfigError(f"train.loss: bce needs two classes, but the data has {num_outputs}; use cross_entropy")
    if loss == "cross_entropy" and num_outputs == 1:
        # Binary data with an explicit cross_entropy: the model then needs two outputs.
        num_outputs = 2
    return Objective(task, num_outputs, loss, label_smoothing, target_mean, target_std)  # type: ignore[arg-type]
