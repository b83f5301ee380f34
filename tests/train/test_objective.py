"""Objective: losses per task against torch's functional forms, predictions, units, and loss/task checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from batchlab.errors import ConfigError
from batchlab.train.objective import make_objective


def test_auto_picks_the_loss_for_the_task() -> None:
    assert make_objective("classification", 10).loss_name == "cross_entropy"
    assert make_objective("classification", 1).loss_name == "bce"
    assert make_objective("regression", 1).loss_name == "mse"


def test_cross_entropy_with_label_smoothing_matches_torch() -> None:
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(8, 4, generator=g), torch.randint(0, 4, (8,), generator=g)
    objective = make_objective("classification", 4, label_smoothing=0.1)
    assert torch.allclose(objective.loss(logits, targets), F.cross_entropy(logits, targets, label_smoothing=0.1))


def test_binary_cross_entropy_smooths_targets_toward_one_half() -> None:
    logits, targets = torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([1, 0, 1])
    objective = make_objective("classification", 1, label_smoothing=0.2)
    soft = torch.tensor([0.9, 0.1, 0.9])
    assert torch.allclose(objective.loss(logits, targets), F.binary_cross_entropy_with_logits(logits.squeeze(1), soft))
    assert objective.predict(logits).tolist() == [1, 0, 1]
    assert torch.allclose(objective.probabilities(logits).sum(1), torch.ones(3))


def test_regression_predictions_come_back_in_target_units() -> None:
    objective = make_objective("regression", 1, target_mean=100.0, target_std=10.0)
    outputs = torch.tensor([[0.0], [1.0], [-2.0]])
    assert objective.predict(outputs).tolist() == [100.0, 110.0, 80.0]
    metrics = objective.metrics(outputs, torch.tensor([0.0, 1.0, -2.0]))
    assert metrics["mse"] == pytest.approx(0.0) and metrics["r2"] == pytest.approx(1.0)
    mae = make_objective("regression", 1, "mae")
    assert torch.allclose(mae.loss(outputs, torch.zeros(3)), torch.tensor(1.0))


def test_correct_counts_without_a_host_sync() -> None:
    objective = make_objective("classification", 3)
    correct = objective.correct(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]), torch.tensor([0, 2, 2]))
    assert isinstance(correct, torch.Tensor) and int(correct) == 2


@pytest.mark.parametrize(
    ("task", "outputs", "loss", "message"),
    [
        ("classification", 3, "mse", "regression loss"),
        ("regression", 1, "cross_entropy", "classification loss"),
        ("classification", 5, "bce", "bce needs two classes"),
    ],
)
def test_a_loss_that_does_not_fit_the_task_is_a_config_error(task: str, outputs: int, loss: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_objective(task, outputs, loss)  # type: ignore[arg-type]


def test_cross_entropy_on_binary_data_gives_two_outputs() -> None:
    assert make_objective("classification", 1, "cross_entropy").num_outputs == 2
