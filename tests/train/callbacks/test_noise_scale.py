"""The noise-scale callback: the estimate against the exact per-example gradients of a linear regression,
and training that is unchanged by it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks.base import TrainingContext
from batchlab.train.callbacks.noise_scale import GradientNoiseScale
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(outputs.squeeze(-1), targets)


def test_estimate_is_within_10_percent_of_the_exact_noise_scale_of_a_linear_regression() -> None:
    generator = torch.Generator().manual_seed(0)
    n, dim = 4000, 8
    x = torch.randn(n, dim, generator=generator)
    w_true = torch.randn(dim, generator=generator)
    y = x @ w_true + 0.5 * torch.randn(n, generator=generator)
    model = torch.nn.Linear(dim, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_((w_true + 0.4 * torch.randn(dim, generator=generator)).unsqueeze(0))
    # Exact per-example gradients of (w.x - y)^2: 2 (w.x - y) x; G their mean, tr(Sigma) their variance.
    residual = x @ model.weight[0].detach() - y
    per_example = 2.0 * residual.unsqueeze(1) * x
    mean = per_example.mean(dim=0)
    truth = float(((per_example - mean) ** 2).sum(dim=1).mean() / mean.pow(2).sum())

    callback = GradientNoiseScale(MiniBatches(x, y, 32), _mse, every_steps=1, micro_batches=4, ema=0.99)
    callback.context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.0))
    state = LoopState()
    for _ in range(300):  # seeds 0-3 land within 5% of the truth
        state.step += 1
        callback.on_step_end(state)
    assert (callback.b_small, callback.b_big) == (32, 128)
    assert callback.ema.noise_scale == pytest.approx(truth, rel=0.10)
    assert model.weight.grad is None  # the training gradient is untouched


def _train(with_callback: bool) -> tuple[dict[str, torch.Tensor], LoopState, GradientNoiseScale | None]:
    torch.manual_seed(0)
    x = torch.randn(96, 6)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 2)
    )
    objective = make_objective("classification", 2)
    batches = MiniBatches(x, y, 8, seed=0)
    callback = GradientNoiseScale(batches, objective.loss, every_steps=3, micro_batches=3) if with_callback else None
    state = fit(
        model,
        batches,
        objective=objective,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        val=MiniBatches(x, y, 96, shuffle=False),
        settings=LoopSettings(epochs=2),
        callbacks=[callback] if callback else [],
    )
    return {k: v.clone() for k, v in model.state_dict().items()}, state, callback


def test_training_with_the_callback_follows_the_same_trajectory() -> None:
    plain, _, _ = _train(with_callback=False)
    measured, state, callback = _train(with_callback=True)
    assert callback is not None and callback.ema.count == 8  # 24 steps, every 3
    for key, value in plain.items():
        assert torch.equal(value, measured[key]), key  # weights, batch-norm statistics: bit-identical
    assert all("noise_scale" in row for row in state.history)
    assert state.history[-1]["noise_scale"] == pytest.approx(callback.ema.noise_scale)


def test_state_round_trips_for_resume() -> None:
    _, _, callback = _train(with_callback=True)
    assert callback is not None
    x = torch.zeros(10, 2)
    fresh = GradientNoiseScale(MiniBatches(x, torch.zeros(10), 2), _mse)
    fresh.load_state_dict(callback.state_dict())
    assert fresh.ema.noise_scale == callback.ema.noise_scale
    assert fresh.measurements == callback.measurements


def test_too_few_samples_disable_measurement() -> None:
    callback = GradientNoiseScale(MiniBatches(torch.zeros(3, 2), torch.zeros(3), 2), _mse, micro_batches=4)
    callback.on_step_end(LoopState(step=10))
    assert callback.micro_batch_size == 0 and not callback.measurements
