"""The NaN guard: stopping with the step and the last finite loss, skipping bad batches, late reads."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks import Callback, NaNGuard
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


def _diverging_fit(callbacks: list[Callback]) -> LoopState:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x.sum(1)
    model = nn.Linear(4, 1)
    return fit(
        model,
        MiniBatches(x, y, 8, seed=0),
        objective=make_objective("regression", 1),
        optimizer=torch.optim.SGD(model.parameters(), lr=10.0),
        settings=LoopSettings(epochs=20),
        callbacks=callbacks,
    )


def test_nan_guard_stops_and_names_the_step_and_last_finite_loss() -> None:
    state = _diverging_fit([NaNGuard()])
    message = state.diverged
    assert state.stop
    assert "training diverged: the loss became" in message
    assert f"at step {state.step + 1}" in message
    assert "last finite loss" in message and "Lower train.optimizer.lr" in message


def test_nan_guard_can_skip_bad_batches() -> None:
    guard = NaNGuard(skip=True)
    state = _diverging_fit([guard])
    assert not state.stop
    assert guard.skipped > 0 and state.extra["skipped_batches"] == guard.skipped


def test_nan_guard_on_device_names_the_first_bad_step_though_it_reads_late() -> None:
    def run(guard: NaNGuard) -> LoopState:
        torch.manual_seed(0)
        x = torch.randn(256, 4)
        model = nn.Linear(4, 1)
        return fit(
            model,
            MiniBatches(x, x.sum(1), 4, seed=0),
            objective=make_objective("regression", 1),
            optimizer=torch.optim.SGD(model.parameters(), lr=3.0),
            settings=LoopSettings(epochs=5),
            callbacks=[guard],
        )

    per_batch = run(NaNGuard())
    late = run(NaNGuard(check_every=16, on_device=True))
    assert late.stop and late.diverged == per_batch.diverged  # same step, value, last loss
    assert late.step > per_batch.step  # found some batches later, at the next read
