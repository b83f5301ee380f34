"""The one evaluation function: metrics against scikit-learn, the constant-target rule, language models."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

from batchlab.data.batch import Batch
from batchlab.train.evaluation import evaluate_batches, r2_from_sums
from batchlab.train.objective import make_objective


class _Fixed(torch.nn.Module):
    """Returns preset outputs row by row (the batch's x holds row indices)."""

    def __init__(self, outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs = outputs
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs[x.long()]


def _batches(targets: torch.Tensor, size: int) -> list[Batch]:
    rows = torch.arange(len(targets))
    return [Batch(rows[i : i + size], targets[i : i + size]) for i in range(0, len(targets), size)]


def test_classification_metrics_match_scikit_learn_over_several_batches() -> None:
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(97, 4, generator=g), torch.randint(0, 4, (97,), generator=g)
    metrics = evaluate_batches(
        _Fixed(logits), _batches(targets, 10), make_objective("classification", 4), detailed=True
    )
    predicted = logits.argmax(1)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(targets, predicted))
    assert metrics["f1_macro"] == pytest.approx(f1_score(targets, predicted, average="macro"))
    assert metrics["f1_per_class"] == pytest.approx(list(f1_score(targets, predicted, average=None)))
    assert metrics["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, targets)), rel=1e-6)
    assert metrics["samples"] == 97 and sum(map(sum, metrics["confusion_matrix"])) == 97


def test_regression_metrics_match_scikit_learn() -> None:
    g = torch.Generator().manual_seed(1)
    outputs, targets = torch.randn(50, 1, generator=g), torch.randn(50, generator=g)
    metrics = evaluate_batches(_Fixed(outputs), _batches(targets, 7), make_objective("regression", 1))
    assert metrics["mse"] == pytest.approx(mean_squared_error(targets, outputs[:, 0]), rel=1e-6)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(targets, outputs[:, 0]), rel=1e-6)
    assert metrics["r2"] == pytest.approx(r2_score(targets, outputs[:, 0]), rel=1e-6)


@pytest.mark.parametrize("value", [0.1, 3.0, -1e4])
def test_a_constant_target_gives_the_same_r2_rule_in_every_batching(value: float) -> None:
    targets = torch.full((30,), value)
    objective = make_objective("regression", 1, target_mean=2.0)
    perfect = torch.zeros(30, 1) + (value - 2.0) / 1.0  # predictions are unscaled: p * std + mean
    wrong = perfect + 1.0
    for size in (1, 7, 30):
        assert evaluate_batches(_Fixed(perfect), _batches((targets - 2.0), size), objective)["r2"] == 1.0
        assert evaluate_batches(_Fixed(wrong), _batches((targets - 2.0), size), objective)["r2"] == 0.0
    assert math.isnan(r2_from_sums(0.0, 0.0, 0.0, 1))


def test_a_language_model_reports_nats_per_token_and_bits_per_character() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 5, 11, generator=g)
    targets = torch.randint(0, 11, (6, 5), generator=g)
    expected = float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()))
    char = make_objective("language_model", 11, token_unit="char")
    metrics = evaluate_batches(_Fixed(logits), _batches(targets, 4), char)
    assert metrics["loss"] == pytest.approx(expected, rel=1e-6)
    assert metrics["bpc"] == pytest.approx(expected / math.log(2), rel=1e-6)
    word = evaluate_batches(_Fixed(logits), _batches(targets, 4), make_objective("language_model", 11))
    assert word["perplexity"] == pytest.approx(math.exp(expected), rel=1e-6) and "bpc" not in word
