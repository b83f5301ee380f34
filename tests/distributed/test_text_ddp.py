"""``batchlab train --nproc 2`` on text: two workers end with the weights of one process.

Every rank plans the same bucketed global batches (same data, seed and batch size) and takes its slice
of each (``ShardedBatches``); each slice is padded to its own longest text, and each rank's loss is
weighed by its share of the global batch, so the averaged gradient is the single-process one. Dropout is
off: its masks are drawn per rank, so with it the two runs would differ by design.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import batchlab
from batchlab.train.checkpoint import load_weights
from tests.conftest import run_batchlab

pytestmark = pytest.mark.slow

CLASSIFIER = {
    "data": {
        "source": "sms.tsv",
        "header": False,
        "columns": ["label", "message"],
        "text": "message",
        "target": "label",
        "tokenizer": {"kind": "word", "vocab_size": 1500},
        "max_length": 48,
    },
    "model": {"name": "transformer", "embed": 16, "layers": 1, "heads": 2, "dropout": 0.0},
    "train": {
        "batch_size": "320tokens",  # bucketed batches of varying sample counts, split unevenly between ranks
        "epochs": 2,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        "early_stopping": {"monitor": "val_accuracy", "patience": 5},
    },
}
LANGUAGE_MODEL = {
    "data": {"source": "shakespeare.txt", "task": "language_model", "context": 32, "split": {"val": 0.1, "test": 0.1}},
    "model": {"name": "gpt", "embed": 32, "layers": 1, "heads": 2, "dropout": 0.0},
    "train": {
        "batch_size": 8,
        "epochs": None,
        "max_steps": 20,
        "val_every_steps": 10,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
    },
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _one_and_two(
    root: Path, config: dict[str, Any], data: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Train ``config`` in this process and with ``--nproc 2``; check the weights; return both metrics rows."""
    monkeypatch.chdir(root)
    (root / config["data"]["source"]).write_text(data)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    batchlab.fit("config.yaml", run_dir=root / "one", progress=False, plots=False)
    done = run_batchlab("train", "config.yaml", "--nproc", "2", "--run-dir", "two", "-q", "--no-plots", cwd=root)
    assert done.code == 0, done.stderr[-3000:]
    assert done.stdout.count("Run directory:") == 1  # printed by rank 0 only
    one, two = load_weights(root / "one" / "model.safetensors"), load_weights(root / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5)
    info = json.loads((root / "two" / "run.json").read_text())
    assert info["world_size"] == 2
    assert info["steps"] == json.loads((root / "one" / "run.json").read_text())["steps"]
    return _rows(root / "one" / "metrics.csv"), _rows(root / "two" / "metrics.csv")


def test_two_workers_train_a_bucketed_text_classifier_like_one_process(
    sms_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = "".join(sms_slice.read_text().splitlines(keepends=True)[:300])
    single, double = _one_and_two(tmp_path, CLASSIFIER, messages, monkeypatch)
    assert len(single) == len(double) == 2
    for a, b in zip(single, double, strict=True):
        assert (a["step"], a["samples"], a["tokens"]) == (b["step"], b["samples"], b["tokens"])
        assert a["val_accuracy"] == b["val_accuracy"]  # summed over ranks, not a mean of rank means
        assert float(b["val_loss"]) == pytest.approx(float(a["val_loss"]), rel=1e-4)
        # each rank pads its half of a batch to that half's longest text: never more padding than one process
        assert float(b["pad_fraction"]) <= float(a["pad_fraction"])


def test_two_workers_train_a_language_model_like_one_process(
    shakespeare_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single, double = _one_and_two(tmp_path, LANGUAGE_MODEL, shakespeare_slice.read_text()[:12_000], monkeypatch)
    assert [r["step"] for r in double] == ["10", "20"]
    for a, b in zip(single, double, strict=True):
        assert a["tokens"] == b["tokens"] == str(int(a["step"]) * 8 * 32)
        assert float(b["val_bpc"]) == pytest.approx(float(a["val_bpc"]), rel=1e-4)
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-4)
