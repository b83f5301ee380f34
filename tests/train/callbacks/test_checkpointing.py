"""Periodic checkpoints (the last K kept) and the best weights beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks import Callback, Checkpointing
from batchlab.train.callbacks.tracker import MetricTracker
from batchlab.train.checkpoint import find_checkpoints
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


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


def _checkpoint_states(directory: Path) -> dict[int, dict[str, Any]]:
    return {int(p.name.split("-")[1]): json.loads((p / "state.json").read_text()) for p in find_checkpoints(directory)}


def test_a_checkpoint_holds_the_metrics_row_and_the_stop_of_its_step(tmp_path: Path) -> None:
    """Validation and a step checkpoint on the same step: the checkpoint comes after the row and the stop."""
    from batchlab.train.callbacks import EarlyStopping

    torch.manual_seed(0)
    x, y = torch.randn(60, 3), torch.randint(0, 3, (60,))
    model = nn.Linear(3, 3)
    keeper = Checkpointing(tmp_path, every_steps=3, every_epochs=None, keep=100)
    early = EarlyStopping("val_loss", "min", patience=2, min_delta=10.0, restore_best=False)  # stops at once
    state = fit(
        model,
        MiniBatches(x, y, 10, seed=0),
        objective=make_objective("classification", 3),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val=MiniBatches(x[:20], y[:20], 20, shuffle=False),
        settings=LoopSettings(epochs=20, val_every_steps=3),
        callbacks=[early, keeper],
    )
    saved = _checkpoint_states(tmp_path)
    assert state.stop and state.step in saved  # the run stopped at a checkpoint step
    for step, values in saved.items():
        assert values["history"][-1]["step"] == step  # the row of that step is in its checkpoint
    assert saved[state.step]["stop"] and saved[state.step]["stop_reason"] == state.stop_reason
    assert not any(values["stop"] for step, values in saved.items() if step < state.step)


def test_the_checkpoint_of_an_epochs_last_step_holds_the_closed_epoch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randint(0, 3, (40,))
    model = nn.Linear(3, 3)
    fit(
        model,
        MiniBatches(x, y, 10, seed=0),
        objective=make_objective("classification", 3),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        val=MiniBatches(x[:20], y[:20], 20, shuffle=False),
        settings=LoopSettings(epochs=2),
        callbacks=[Checkpointing(tmp_path, every_steps=4, every_epochs=None, keep=100)],
    )
    saved = _checkpoint_states(tmp_path)
    assert sorted(saved) == [4, 8]
    assert saved[4]["epoch"] == 1 and saved[4]["batch"] == 0  # closed, not "4 of 4 batches taken"
    assert [row["step"] for row in saved[8]["history"]] == [4, 8]
