"""metrics.csv: one row per evaluation, new columns, a resumed history."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks import CSVLogger
from batchlab.train.callbacks.csv_logger import metrics_csv_text
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


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


def test_a_new_runs_rows_are_written_without_rewriting_the_file_until_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchlab.train.callbacks import csv_logger

    rewrites: list[str] = []
    real_write_text = csv_logger.write_text
    monkeypatch.setattr(
        csv_logger, "write_text", lambda path, text: (rewrites.append(text), real_write_text(path, text))
    )
    path = tmp_path / "metrics.csv"
    logger, state = CSVLogger(path), LoopState()
    logger.on_train_begin(state)
    for epoch in (1, 2):
        row = {"epoch": epoch, "step": epoch * 4, "samples": epoch * 40, "val_loss": 1.0 / epoch, "lr": 0.1}
        state.history.append(row)
        logger.on_evaluate(state, row)
        assert [r["epoch"] for r in _rows(path)] == [str(e) for e in range(1, epoch + 1)]
    assert rewrites == []  # the first row created the file, the second was appended
    logger.on_train_end(state)
    assert len(rewrites) == 1 and [r["epoch"] for r in _rows(path)] == ["1", "2"]


def test_a_stale_file_in_a_new_runs_place_is_replaced_by_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,samples,val_loss,lr\n7,70,700,9.0,0.1\n")
    logger, state = CSVLogger(path), LoopState()
    logger.on_train_begin(state)
    row = {"epoch": 1, "step": 4, "samples": 40, "val_loss": 1.0, "lr": 0.1}
    state.history.append(row)
    logger.on_evaluate(state, row)
    assert [r["epoch"] for r in _rows(path)] == ["1"]
