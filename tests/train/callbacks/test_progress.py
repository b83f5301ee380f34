"""The progress output: the start summary, one row per evaluation, the live bar on a terminal."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks import ProgressBar
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings


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


def test_progress_bar_shows_epoch_running_loss_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchlab.train.callbacks import progress

    monkeypatch.setattr(progress, "_REFRESH_SECONDS", 0.0)  # redraw after every batch
    drawn = _train_on_a_terminal(epochs=2)
    assert "epoch 1" in drawn and "epoch 2" in drawn
    assert "3/3" in drawn and "samples/s" in drawn
    assert " acc " in drawn  # the running accuracy next to the running loss


def test_epochs_shorter_than_a_refresh_print_rows_without_a_live_bar() -> None:
    # A live bar is redrawn with every printed row; epochs this short print rows often enough.
    drawn = _train_on_a_terminal(epochs=3)
    assert "samples/s" not in drawn
    assert [line.split()[0] for line in drawn.splitlines()[1:4]] == ["1", "2", "3"]


def _train_on_a_terminal(epochs: int) -> str:
    """What a tiny classification run prints to a terminal console, drawing codes included."""
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
        settings=LoopSettings(epochs=epochs),
        callbacks=[ProgressBar(console)],
    )
    return buffer.getvalue()
