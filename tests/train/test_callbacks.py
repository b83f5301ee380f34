"""Callbacks: early stopping, NaN guard, CSV logging, checkpointing, progress output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.errors import ConfigError
from batchlab.train.callbacks import (
    Callback,
    Checkpointing,
    CSVLogger,
    EarlyStopping,
    NaNGuard,
    ProgressBar,
    TrainingContext,
)
from batchlab.train.callbacks.csv_logger import metrics_csv_text
from batchlab.train.callbacks.tracker import MetricTracker, resolve_mode
from batchlab.train.checkpoint import find_checkpoints
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


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


def test_mode_auto_minimizes_losses_and_maximizes_scores() -> None:
    assert resolve_mode("val_loss", "auto") == "min"
    assert resolve_mode("val_mae", "auto") == "min"
    assert resolve_mode("val_accuracy", "auto") == "max"
    assert resolve_mode("val_r2", "auto") == "max"
    assert resolve_mode("val_bpc", "auto") == "min"  # bits per character of a language model
    assert resolve_mode("val_perplexity", "auto") == "min"


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


def test_csv_logger_writes_every_row(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    model = nn.Linear(3, 1)
    fit(
        model,
        MiniBatches(x, y, 10, seed=0),
        objective=make_objective("classification", 1),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val=MiniBatches(x, y, 40, shuffle=False),
        settings=LoopSettings(epochs=3),
        callbacks=[CSVLogger(path)],
    )
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    header = list(rows[0])
    assert header[:3] == ["epoch", "step", "samples"] and header[-2:] == ["lr", "seconds"]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(header)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_checkpointing_keeps_the_last_k(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randint(0, 3, (40,))
    model = nn.Linear(3, 3)
    keeper = Checkpointing(tmp_path / "checkpoints", every_steps=2, every_epochs=None, keep=2)
    fit(
        model,
        MiniBatches(x, y, 10, seed=0),
        objective=make_objective("classification", 3),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        settings=LoopSettings(epochs=3),
        callbacks=[keeper],
    )
    names = [p.name for p in find_checkpoints(tmp_path / "checkpoints")]
    assert names == ["step-000000010", "step-000000012"]


def test_progress_prints_a_header_and_one_row_per_epoch() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=150, force_terminal=False)
    torch.manual_seed(0)
    x, y = torch.randn(30, 3), torch.randint(0, 3, (30,))
    model = nn.Linear(3, 3)
    fit(
        model,
        MiniBatches(x, y, 10, seed=0),
        objective=make_objective("classification", 3),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val=MiniBatches(x, y, 30, shuffle=False),
        settings=LoopSettings(epochs=2),
        callbacks=[ProgressBar(console)],
        info={"summary": "Batches: 3"},
    )
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "Batches: 3"
    assert lines[1].split() == [
        "epoch",
        "step",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "time_s",
    ]
    assert [line.split()[0] for line in lines[2:4]] == ["1", "2"]
    assert lines[-1] == "Stopped: completed 2 epochs"


def test_callback_state_is_keyed_by_class_name() -> None:
    class Counter(Callback):
        def __init__(self) -> None:
            self.n = 0

        def on_step_end(self, state: LoopState) -> None:
            self.n += 1

        def state_dict(self) -> dict[str, Any]:
            return {"n": self.n}

        def load_state_dict(self, state: dict[str, Any]) -> None:
            self.n = state["n"]

    from batchlab.train.callbacks import CallbackList

    model = nn.Linear(1, 1)
    context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.1))
    first = CallbackList([Counter(), Counter()], context)
    first.callbacks[0].n, first.callbacks[1].n = 3, 5  # type: ignore[attr-defined]
    second = CallbackList([NaNGuard(), Counter(), Counter()], context)
    second.load_state_dict(first.state_dict())
    assert [c.n for c in second.callbacks[1:]] == [3, 5]  # type: ignore[attr-defined]


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


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_csv_logger_appends_rows_and_rewrites_a_resumed_history(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    logger = CSVLogger(path)
    state = LoopState()
    logger.on_train_begin(state)
    for epoch in (1, 2, 3):
        row = {"epoch": epoch, "step": epoch * 4, "samples": epoch * 40, "val_loss": 1.0 / epoch, "lr": 0.1}
        state.history.append(row)
        logger.on_evaluate(state, row)
        assert [r["epoch"] for r in _rows(path)] == [str(e) for e in range(1, epoch + 1)]
    # A row with a new column rewrites the file with that column (earlier rows left empty there).
    row = {"epoch": 4, "step": 16, "samples": 160, "val_loss": 0.2, "val_accuracy": 0.9, "lr": 0.1}
    state.history.append(row)
    logger.on_evaluate(state, row)
    rows = _rows(path)
    assert list(rows[0]) == ["epoch", "step", "samples", "val_loss", "val_accuracy", "lr"]
    assert [r["val_accuracy"] for r in rows] == ["", "", "", "0.9"]

    # A resume from a checkpoint taken after epoch 2 drops the rows the checkpoint does not have.
    resumed = LoopState()
    resumed.history = state.history[:2]
    CSVLogger(path).on_train_begin(resumed)
    assert [r["epoch"] for r in _rows(path)] == ["1", "2"]
    assert path.read_text() == metrics_csv_text(resumed.history)


def test_best_weights_are_written_with_checkpoints_and_at_the_end(tmp_path: Path) -> None:
    """best.safetensors holds the weights of the best evaluation, whether or not checkpoints are on."""
    from safetensors.torch import load_file

    torch.manual_seed(0)
    x, y = torch.randn(60, 3), torch.randint(0, 3, (60,))
    weights_at: dict[int, dict[str, torch.Tensor]] = {}

    class Snapshot(Callback):
        def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
            weights_at[logs["epoch"]] = {k: v.clone() for k, v in self.context.module.state_dict().items()}

    for every_epochs in (None, 2):
        directory = tmp_path / f"every-{every_epochs}"
        model = nn.Linear(3, 3)
        keeper = Checkpointing(directory, every_epochs=every_epochs, best=MetricTracker("val_loss", "min"))
        fit(
            model,
            MiniBatches(x, y, 10, seed=0),
            objective=make_objective("classification", 3),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
            val=MiniBatches(x[:20], y[:20], 20, shuffle=False),
            settings=LoopSettings(epochs=5),
            callbacks=[keeper, Snapshot()],
        )
        best = json.loads((directory / "best.json").read_text())
        assert best["epoch"] < 5  # the last weights are not the best: the file must hold a copy
        saved = load_file(directory / "best.safetensors")
        assert all(torch.equal(saved[k], weights_at[best["epoch"]][k]) for k in saved)
        assert not list(directory.glob(".*.tmp"))


def test_progress_bar_shows_epoch_running_loss_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchlab.train.callbacks import progress

    monkeypatch.setattr(progress, "_REFRESH_SECONDS", 0.0)  # redraw after every batch
    buffer = io.StringIO()
    console = Console(file=buffer, width=150, force_terminal=True, color_system=None)
    torch.manual_seed(0)
    x, y = torch.randn(30, 3), torch.randint(0, 3, (30,))
    model = nn.Linear(3, 3)
    fit(
        model,
        MiniBatches(x, y, 10, seed=0),
        objective=make_objective("classification", 3),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        settings=LoopSettings(epochs=2),
        callbacks=[ProgressBar(console)],
    )
    drawn = buffer.getvalue()
    assert "epoch 1" in drawn and "epoch 2" in drawn
    assert "3/3" in drawn and "samples/s" in drawn
    assert " acc " in drawn  # the running accuracy next to the running loss
