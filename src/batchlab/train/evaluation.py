"""Evaluation of a model on batches: the one place where validation and test metrics are computed.

The model runs once per batch in eval mode without gradients; each batch is reduced at once to sums
(loss, correct predictions or a confusion matrix, error sums, token counts), kept in float64 on the
device and read once at the end, so memory does not grow with the split. Under data parallelism every
rank evaluates its shard and the sums are added across ranks before any ratio is taken, so the
metrics are exact, not a mean of per-rank means, and identical on one process and on several.

Metric rules (the same everywhere: progress bar, ``metrics.csv``, ``test_metrics.json``, studies):

- classification: ``loss`` (mean over samples), ``accuracy``; in detail also macro precision, recall
  and F1, the F1 of each class and the confusion matrix (see :mod:`batchlab.train.metrics`);
- regression: ``loss``, ``mse``, ``mae`` (target units) and ``r2``. R² is ``nan`` with fewer than two
  samples; for a constant target (spread below ``1e-12`` of the summed squares, i.e. zero up to
  rounding) it is 1.0 for a perfect prediction and 0.0 otherwise, as scikit-learn's ``r2_score``;
- language models: ``loss`` in nats per token, and ``bpc`` (bits per character: ``loss / ln 2``) for
  a character tokenizer or ``perplexity`` (``exp(loss)``) otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from batchlab.data.batch import Batch
from batchlab.train.distributed import all_reduce_sum
from batchlab.train.metrics import metrics_from_confusion
from batchlab.train.objective import Objective

__all__ = ["evaluate_batches", "evaluate_outputs", "r2_from_sums"]

_CONSTANT = 1e-12


@torch.no_grad()
def evaluate_batches(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    objective: Objective,
    *,
    detailed: bool = False,
    across_ranks: bool = True,
) -> dict[str, Any]:
    """Metrics of ``model`` over ``batches`` (one pass, eval mode, sums added over data-parallel ranks).

    Args:
        model: maps ``batch.inputs`` to outputs ``(batch, K)`` or, for a language model, ``(batch, time, V)``.
        batches: the split's batches (this rank's shard under data parallelism).
        objective: the task's loss and metrics.
        detailed: add macro precision / recall / F1, per-class F1 and the confusion matrix
            (classification), as for a test split.
        across_ranks: add the sums over data-parallel ranks (every rank must call); ``False`` when one
            rank evaluates a whole split alone.

    Returns:
        Metric names without prefix (``loss``, ``accuracy``, ...; see the module) and ``samples``.
    """
    model.eval()
    device = _device_of(model)
    classes = objective.num_classes if objective.is_classification else 0
    # loss, count, correct | e^2, |e|, d, d^2 | samples
    sums = torch.zeros(8, dtype=torch.float64, device=device)
    confusion = torch.zeros(classes * classes if detailed else 0, dtype=torch.int64, device=device)
    for batch in batches:
        sums[7] += len(batch)
        if not len(batch):
            continue
        outputs = model(*batch.inputs)
        count = batch.y.numel() if objective.is_language_model else len(batch)
        sums[0] += objective.loss(outputs, batch.y).double() * count
        sums[1] += count
        if objective.is_classification:
            predicted = objective.predict(outputs)
            sums[2] += (predicted == batch.y).sum()
            if detailed:
                confusion += torch.bincount(batch.y * classes + predicted, minlength=classes * classes)
        elif not objective.is_language_model:
            target = objective.unscale(batch.y).double()
            error = objective.predict(outputs).double() - target
            shifted = target - objective.target_mean  # sums around the training mean: no cancellation
            sums[3:7] += torch.stack([error.square().sum(), error.abs().sum(), shifted.sum(), shifted.square().sum()])
    packed = torch.cat([sums, confusion.double()])
    totals = (all_reduce_sum(packed) if across_ranks else packed).tolist()
    loss_sum, count, correct, squared, absolute, total, squares = totals[:7]
    samples = round(totals[7])
    if not count:
        return {"samples": samples}
    metrics: dict[str, Any] = {"loss": loss_sum / count}
    if objective.is_language_model:
        metrics.update(_language_model_metrics(metrics["loss"], objective))
    elif objective.is_classification:
        metrics["accuracy"] = correct / count
        if detailed:
            matrix = torch.tensor([round(v) for v in totals[8:]], dtype=torch.int64).reshape(classes, classes)
            metrics.update(metrics_from_confusion(matrix))
            metrics["f1_per_class"] = _f1_per_class(matrix)
    else:
        metrics.update(mse=squared / count, mae=absolute / count, r2=r2_from_sums(squared, total, squares, count))
    metrics["samples"] = samples
    return metrics


def r2_from_sums(squared_error: float, total: float, squares: float, count: float) -> float:
    """R² from ``sum (y - p)^2``, ``sum d`` and ``sum d^2`` of ``count`` targets (``d = y - shift``).

    >>> r2_from_sums(0.0, 3.0, 3.0, 3)   # constant target, perfect prediction
    1.0
    >>> r2_from_sums(2.0, 0.0, 8.0, 4)   # 1 - 2 / 8
    0.75
    """
    if count < 2:
        return float("nan")
    spread = squares - total * total / count
    if spread <= _CONSTANT * max(squares, 1e-300):
        return 1.0 if squared_error == 0 else 0.0
    return 1.0 - squared_error / spread


def _language_model_metrics(loss: float, objective: Objective) -> dict[str, float]:
    if objective.token_unit == "char":
        return {"bpc": loss / math.log(2)}
    return {"perplexity": math.exp(min(loss, 700.0))}


def _f1_per_class(matrix: torch.Tensor) -> list[float]:
    counts = matrix.double()
    tp = counts.diagonal()
    denominator = counts.sum(0) + counts.sum(1)
    return [float(v) for v in torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), 0.0)]


@torch.no_grad()
def evaluate_outputs(model: torch.nn.Module, batches: Iterable[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
    """Model outputs and targets over all batches, in eval mode: ``(samples, outputs)``, ``(samples,)``.

    For predictions written row by row (``batchlab predict``); metrics use :func:`evaluate_batches`.
    """
    model.eval()
    outputs, targets = [], []
    for batch in batches:
        outputs.append(model(*batch.inputs))
        targets.append(batch.y)
    return torch.cat(outputs), torch.cat(targets)


def _device_of(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
