"""The range test inside the training loop against a range test written by hand in plain PyTorch."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from batchlab.data.batching import MiniBatches
from batchlab.lr_range.curve import rate_grid, smooth_losses
from batchlab.lr_range.recorder import RangeRecorder
from batchlab.train.callbacks import Callback
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings


def _problem(seed: int = 0) -> tuple[torch.nn.Module, MiniBatches]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(64, generator=generator)
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1), MiniBatches(x, y, 8, seed=seed)


def _range_in_the_loop(
    model: torch.nn.Module, batches: MiniBatches, rates: list[float], smooth: float = 0.0, diverge: float = 4.0
) -> tuple[RangeRecorder, list[float]]:
    objective = make_objective("regression", 1, "mse")
    optimizer = torch.optim.SGD(model.parameters(), lr=123.0)  # the recorder sets every rate itself
    recorder = RangeRecorder(rates, smooth=smooth, diverge=diverge)
    used: list[float] = []

    class Spy(Callback):  # the rate of every update, read just before it is applied
        def on_batch_end(self, state, logs):  # type: ignore[no-untyped-def]
            used.append(optimizer.param_groups[0]["lr"])

    fit(
        model,
        batches,
        objective=objective,
        optimizer=optimizer,
        settings=LoopSettings(epochs=None, max_steps=len(rates) + 1),
        callbacks=[recorder, Spy()],
    )
    return recorder, used


def test_each_rate_is_used_for_one_update_and_scored_by_the_next_batch() -> None:
    model, batches = _problem()
    reference = copy.deepcopy(model)
    rates = rate_grid(1e-3, 0.3, 12)
    recorder, used = _range_in_the_loop(model, batches, rates)

    # By hand: loss of batch k at the weights after k updates; update k at rates[k]; the loss recorded
    # for rates[k] is batch k + 1's. 13 batches of 8 wrap the 8 batches of an epoch (reshuffled).
    objective = make_objective("regression", 1, "mse")
    stream = [b for epoch in range(2) for b in batches.epoch(epoch)]
    expected, initial = [], None
    for k, batch in enumerate(stream[: len(rates) + 1]):
        loss = objective.loss(reference(batch.x), batch.y)
        if k == 0:
            initial = float(loss.detach())
        else:
            expected.append(float(loss.detach()))
        loss.backward()
        with torch.no_grad():
            for p in reference.parameters():
                p -= rates[min(k, len(rates) - 1)] * p.grad
                p.grad = None

    assert recorder.initial_loss == pytest.approx(initial, rel=1e-6)
    np.testing.assert_allclose(recorder.losses, expected, rtol=1e-5)
    np.testing.assert_allclose(used[: len(rates)], rates, rtol=1e-12)
    assert recorder.diverged_at is None


def test_the_test_stops_at_the_first_divergent_point() -> None:
    model, batches = _problem()
    rates = rate_grid(1e-3, 100.0, 40)  # plain SGD on this quadratic diverges above lr 1 or so
    recorder, _ = _range_in_the_loop(model, batches, rates, smooth=0.5)
    smoothed = smooth_losses(recorder.losses, 0.5)
    np.testing.assert_allclose(recorder.smoothed, smoothed, rtol=1e-12)
    first = next(k for k in range(len(smoothed)) if smoothed[k] > 4.0 * min(smoothed[: k + 1]))
    assert recorder.diverged_at == first == len(recorder.losses) - 1
    assert len(recorder.losses) < len(rates)


def test_a_nan_loss_stops_the_test() -> None:
    model, batches = _problem()
    rates = rate_grid(1e-3, 1e30, 30)
    recorder, _ = _range_in_the_loop(model, batches, rates, smooth=0.98, diverge=1e300)
    assert recorder.diverged_at == len(recorder.losses) - 1
    assert not np.isfinite(recorder.losses[-1])
