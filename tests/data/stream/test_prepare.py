"""Streamed splits: blocks assigned to train, validation and test; the scaler fitted on training rows in one
pass; training identical whichever reader serves the rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from batchlab.config import DataConfig
from batchlab.data.stream.prepare import StreamedSplit, prepare_stream
from batchlab.errors import DataError


def _write_dataset(tmp_path: Path, n: int = 3000) -> Path:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 5)).astype(np.float32) * 3 + 1
    y = (x[:, 0] + x[:, 1] > 2).astype(np.float32) + (x[:, 2] > 1)
    path = tmp_path / "data.npy"
    np.save(path, np.column_stack([x, y]))
    return path


def test_prepare_stream_splits_blocks_and_fits_the_scaler_on_training_rows(tmp_path: Path) -> None:
    path = _write_dataset(tmp_path)
    cfg = DataConfig(source=str(path), stream={"enabled": True, "block_rows": 100})  # type: ignore[arg-type]
    data = prepare_stream(cfg)
    assert isinstance(data.train, StreamedSplit) and data.val is not None and data.test is not None
    blocks = [data.train.rows.blocks, data.val.rows.blocks, data.test.rows.blocks]  # type: ignore[attr-defined]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(30))
    assert len(data.train) + len(data.val) + len(data.test) == 3000
    assert data.task == "classification" and data.classes == ["0", "1", "2"] and data.input_shape == (5,)
    table = np.load(path)
    rows = data.train.rows.rows_at(np.arange(len(data.train)))  # type: ignore[attr-defined]
    train = table[rows, :-1].astype(np.float64)
    scaler = data.preprocessor.features_
    assert np.allclose(scaler.center_, train.mean(axis=0)) and np.allclose(scaler.scale_, train.std(axis=0))
    with pytest.raises(DataError, match="streamed from disk"):
        _ = data.train.x


def test_streamed_training_is_the_same_whichever_reader_serves_the_rows(tmp_path: Path) -> None:
    import batchlab

    path = _write_dataset(tmp_path)
    config = {
        "data": {"source": str(path), "stream": {"enabled": True, "block_rows": 100, "reader": "pread"}},
        "model": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 64, "device": "cpu"},
    }
    first = batchlab.fit(config, run_dir=tmp_path / "a", progress=False, plots=False)
    config["data"]["stream"]["reader"] = "mmap"  # type: ignore[index]
    second = batchlab.fit(config, run_dir=tmp_path / "b", progress=False, plots=False)
    metrics = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
    assert [[r[k] for k in metrics] for r in first.history] == [[r[k] for k in metrics] for r in second.history]
    assert first.history[-1]["val_accuracy"] > 0.8
    assert first.test_metrics is not None and first.test_metrics == second.test_metrics
    assert batchlab.evaluate(first.run_dir)["accuracy"] == first.test_metrics["accuracy"]
