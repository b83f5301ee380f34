"""fit(): the same updates as a hand-written PyTorch loop, accumulation, limits, history rows, determinism."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks import Callback
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


def _data(n: int = 64, features: int = 5, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, classes, generator=g)
    return x, (x @ w).argmax(1)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def _fit(model: nn.Module, batches: MiniBatches, lr: float = 0.1, **settings: Any) -> LoopState:
    objective = make_objective("classification", 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return fit(model, batches, objective=objective, optimizer=optimizer, settings=LoopSettings(**settings))


def test_fit_matches_a_hand_written_loop_exactly() -> None:
    x, y = _data()
    batches = MiniBatches(x, y, 10, seed=3)
    model = _model()
    reference = copy.deepcopy(model)
    _fit(model, batches, epochs=3)

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(3):
        order = batches.permutation(epoch)
        for start in range(0, len(x), 10):
            rows = order[start : start + 10]
            loss = nn.functional.cross_entropy(reference(x[rows]), y[rows])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)


def test_accumulation_of_two_half_batches_equals_one_full_batch() -> None:
    x, y = _data()
    whole, halves = _model(), _model()
    _fit(whole, MiniBatches(x, y, 16, seed=1), epochs=2)
    # The batches hold the effective batch; the loop cuts each into two micro-batches of 8.
    state = _fit(halves, MiniBatches(x, y, 16, seed=1), epochs=2, accumulate=2)
    assert state.step == 2 * 4  # 4 batches of 16 per epoch -> 4 optimizer steps of 2 micro-batches
    for a, b in zip(whole.parameters(), halves.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_max_steps_stops_mid_epoch_at_the_exact_step() -> None:
    x, y = _data()
    state = _fit(_model(), MiniBatches(x, y, 8, seed=0), epochs=None, max_steps=11)
    assert state.step == 11
    assert state.samples == 11 * 8
    assert state.stop_reason == "reached max_steps=11"


def test_one_history_row_per_epoch_with_the_design_names() -> None:
    x, y = _data()
    val = MiniBatches(x[:20], y[:20], 20, shuffle=False)
    objective = make_objective("classification", 3)
    model = _model()
    state = fit(
        model,
        MiniBatches(x, y, 16, seed=0),
        objective=objective,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val=val,
        settings=LoopSettings(epochs=4),
    )
    assert [r["epoch"] for r in state.history] == [1, 2, 3, 4]
    assert [r["step"] for r in state.history] == [4, 8, 12, 16]
    assert [r["samples"] for r in state.history] == [64, 128, 192, 256]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        assert key in state.history[0]
    assert 0.0 <= state.history[-1]["val_accuracy"] <= 1.0


def test_validation_every_n_steps_adds_rows() -> None:
    x, y = _data()
    objective = make_objective("classification", 3)
    model = _model()
    state = fit(
        model,
        MiniBatches(x, y, 8, seed=0),
        objective=objective,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val=MiniBatches(x, y, 64, shuffle=False),
        settings=LoopSettings(epochs=2, val_every_steps=3),
    )
    # Every third step, and the last step of the run, which is no multiple of 3.
    assert [r["step"] for r in state.history] == [3, 6, 9, 12, 15, 16]


def test_training_learns_a_separable_problem() -> None:
    x, y = _data(n=256)
    model = _model()
    state = _fit(model, MiniBatches(x, y, 16, seed=0), lr=0.05, epochs=30)
    assert state.history[-1]["train_accuracy"] > 0.95
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"] / 3


def test_same_seed_gives_identical_history() -> None:
    x, y = _data()
    first = _fit(_model(), MiniBatches(x, y, 8, seed=4), epochs=3).history
    second = _fit(_model(), MiniBatches(x, y, 8, seed=4), epochs=3).history
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in second]


def test_gradient_clipping_bounds_the_update() -> None:
    x, y = _data()
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    objective = make_objective("classification", 3)
    fit(
        model,
        MiniBatches(x, y, 64, seed=0),
        objective=objective,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        settings=LoopSettings(epochs=1, grad_clip=0.01),
    )
    with torch.no_grad():
        moved = torch.linalg.vector_norm(
            torch.stack([(p - b).norm() for p, b in zip(model.parameters(), before, strict=True)])
        )
    assert float(moved) == pytest.approx(0.01, rel=1e-4)  # one step of lr 1 x the clipped gradient norm 0.01


def test_callbacks_see_hooks_in_order_and_can_stop() -> None:
    events: list[str] = []

    class Recorder(Callback):
        def on_train_begin(self, state: LoopState) -> None:
            events.append("train_begin")

        def on_epoch_begin(self, state: LoopState) -> None:
            events.append("epoch_begin")

        def on_step_end(self, state: LoopState) -> None:
            events.append("step")
            if state.step == 3:
                state.request_stop("enough")

        def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
            events.append("evaluate")

        def on_epoch_end(self, state: LoopState) -> None:
            events.append("epoch_end")

        def on_train_end(self, state: LoopState) -> None:
            events.append("train_end")

    x, y = _data()
    model = _model()
    state = fit(
        model,
        MiniBatches(x, y, 8, seed=0),
        objective=make_objective("classification", 3),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        settings=LoopSettings(epochs=5),
        callbacks=[Recorder()],
    )
    # stopped mid-epoch: no half-epoch metrics row
    assert events == ["train_begin", "epoch_begin", "step", "step", "step", "epoch_end", "train_end"]
    assert state.stop_reason == "enough"
    assert state.step == 3
