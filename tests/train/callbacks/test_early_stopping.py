"""Early stopping: patience, min_delta, restoring the best weights, saved state, a missing monitor."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from batchlab.errors import ConfigError
from batchlab.train.callbacks import Callback, EarlyStopping, TrainingContext
from batchlab.train.state import LoopState


def _attach(callback: Callback, model: nn.Module | None = None) -> nn.Module:
    model = model or nn.Linear(2, 2)
    callback.context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.1))
    return model


def _feed(callback: Callback, values: list[float], key: str = "val_loss") -> LoopState:
    state = LoopState()
    for epoch, value in enumerate(values, start=1):
        with torch.no_grad():
            for p in callback.context.model.parameters():
                p.fill_(epoch)
        callback.on_evaluate(state, {"epoch": epoch, "step": epoch, key: value})
        if state.stop:
            break
    callback.on_train_end(state)
    return state


def test_early_stopping_waits_patience_evaluations_then_restores_the_best() -> None:
    stopper = EarlyStopping("val_loss", patience=3)
    model = _attach(stopper)
    state = _feed(stopper, [1.0, 0.5, 0.6, 0.55, 0.7, 0.1])
    assert state.stop
    assert stopper.best == 0.5 and stopper.best_epoch == 2
    assert stopper.stopped_epoch == 5
    assert "val_loss did not improve" in (state.stop_reason or "") and "best 0.5 at epoch 2" in (
        state.stop_reason or ""
    )
    assert all(torch.all(p == 2) for p in model.parameters())  # weights of epoch 2 restored
    assert state.extra["restored_best_epoch"] == 2


def test_min_delta_requires_a_real_improvement() -> None:
    stopper = EarlyStopping("val_accuracy", patience=2, min_delta=0.01, restore_best=False)
    model = _attach(stopper)
    state = _feed(stopper, [0.90, 0.905, 0.909, 0.95], key="val_accuracy")
    assert state.stop and stopper.best == 0.90
    assert all(torch.all(p == 3) for p in model.parameters())  # not restored


def test_early_stopping_state_round_trips() -> None:
    stopper = EarlyStopping(patience=4)
    _attach(stopper)
    _feed(stopper, [1.0, 0.8, 0.9])
    again = EarlyStopping(patience=4)
    again.load_state_dict(stopper.state_dict())
    assert (again.best, again.wait, again.best_epoch) == (0.8, 1, 2)


def test_a_missing_monitor_lists_the_metrics_that_exist() -> None:
    stopper = EarlyStopping("val_acc")
    _attach(stopper)
    with pytest.raises(ConfigError, match=r"'val_acc' is not logged; available: val_loss, val_accuracy"):
        stopper.on_evaluate(LoopState(), {"epoch": 1, "val_loss": 1.0, "val_accuracy": 0.5})
