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
