"""Kill -9 a text run mid-epoch, resume it from the command line, and get the uninterrupted run bit for bit.

The command line itself is killed: a launcher runs ``batchlab train`` in its own process and sends
itself SIGKILL a few steps after a step checkpoint in the middle of the second epoch. The classifier
batches by a token budget with length bucketing (batch counts vary by epoch) and the language model
reads shuffled windows from a random offset; both use dropout, so the random state must resume too.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import batchlab
from batchlab.train.checkpoint import load_weights

pytestmark = pytest.mark.slow

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import batchlab.train.callbacks.checkpointing as checkpointing

    at = int(sys.argv[1])
    step_closed = checkpointing.Checkpointing.on_step_closed

    def on_step_closed(self, state):
        step_closed(self, state)  # the step's checkpoint, when one is due, is on disk before the kill
        if state.step == at:
            os.kill(os.getpid(), signal.SIGKILL)

    checkpointing.Checkpointing.on_step_closed = on_step_closed
    sys.argv = ["batchlab", *sys.argv[2:]]
    from batchlab.cli import main
    main()
    """
)

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
    "model": {"name": "lstm", "embed": 16, "dropout": 0.2},
    "train": {
        "batch_size": "160tokens",
        "bucket": True,
        "epochs": 2,
        "optimizer": {"name": "adam", "lr": 0.003},
        "checkpoint": {"every_steps": 8, "every_epochs": 1, "every_seconds": None},
    },
}
LANGUAGE_MODEL = {
    "data": {"source": "shakespeare.txt", "task": "language_model", "context": 32, "split": {"val": 0.1, "test": 0.1}},
    "model": {"name": "gpt", "embed": 32, "layers": 1, "heads": 2, "dropout": 0.1},
    "train": {
        "batch_size": 16,
        "epochs": 2,
        "val_every_steps": 10,
        "optimizer": {"name": "adamw", "lr": 0.003},
        "schedule": {"name": "cosine", "warmup_steps": 5},
        "checkpoint": {"every_steps": 8, "every_epochs": None, "every_seconds": None},
    },
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _kill_and_resume(root: Path, config: dict[str, Any], data: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)  # the config names its data relative to the working directory
    (root / config["data"]["source"]).write_text(data)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "killer.py").write_text(KILLER)
    full = batchlab.fit(root / "config.yaml", run_dir=root / "full", progress=False, plots=False)
    per_epoch = full.info["batches_per_epoch"]
    at = per_epoch + 9  # in the second epoch, 1 to 8 steps after its last checkpoint

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=300)

    killed = run("killer.py", str(at), "train", "config.yaml", "--run-dir", "killed", "-q", "--no-plots")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (root / "killed" / "model.safetensors").exists()
    latest = int(sorted((root / "killed" / "checkpoints").glob("step-*"))[-1].name.split("-")[1])
    assert per_epoch < latest < at  # resumed from the middle of an epoch, with steps to redo
    resumed = run("-m", "batchlab", "train", "--resume", "killed", "-q", "--no-plots")
    assert resumed.returncode == 0, resumed.stderr

    expected = load_weights(root / "full" / "model.safetensors")
    got = load_weights(root / "killed" / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert _rows(root / "killed" / "metrics.csv") == _rows(root / "full" / "metrics.csv")


def test_a_bucketed_text_classifier_with_a_token_budget_resumes_bit_identically(
    sms_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = sms_slice.read_text().splitlines(keepends=True)[:300]
    _kill_and_resume(tmp_path, CLASSIFIER, "".join(messages), monkeypatch)
    rows = _rows(tmp_path / "full" / "metrics.csv")
    assert {"tokens", "pad_fraction"} <= set(rows[0])


def test_a_language_model_resumes_bit_identically(
    shakespeare_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _kill_and_resume(tmp_path, LANGUAGE_MODEL, shakespeare_slice.read_text()[:16_000], monkeypatch)
