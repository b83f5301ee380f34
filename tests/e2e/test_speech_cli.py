"""Spoken digits on the command line, on a small part of FSDD (real recordings): train -> evaluate ->
predict -> report; a run killed with SIGKILL mid-epoch resumes to bit-identical weights (augmentation
included); batch-size studies, tuning and two data-parallel workers on audio configs."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from batchlab.train.checkpoint import load_weights

pytestmark = pytest.mark.slow
pytest.importorskip("soundfile", reason="the audio extra is not installed")

# 100 recordings (2 speakers x 10 digits x 5 takes); relative path, as the configs in configs/ use.
CONFIG = """\
name: digits
data:
  source: recordings
  label_pattern: '^(\\d)_'
  group_pattern: '^\\d_([a-z]+)_'
  split: {val: 0.2, test: 0.2, seed: 0}
  audio: {sample_rate: 8000, n_mels: 20, max_seconds: 0.8}
  augment: [{noise: {snr_db: 15, p: 0.5}}, {shift: {max_ms: 50}}, {gain: {db: 3}}, specaugment]
model: {name: cnn, channels: [4, 8], hidden: [16], batchnorm: true, dropout: 0.1}
train:
  batch_size: 8
  epochs: 3
  optimizer: {name: adam, lr: 0.003}
  early_stopping: {monitor: val_loss, patience: 5}
  checkpoint: {every_steps: 3, every_epochs: 1, keep: 2}
  threads: 1
"""


@pytest.fixture
def digits(fsdd_subset: Any, tmp_path: Path) -> Path:
    fsdd_subset()
    (tmp_path / "digits.yaml").write_text(CONFIG)
    return tmp_path / "digits.yaml"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def test_train_evaluate_predict_and_report(batchlab_cli, digits: Path, fsdd_subset: Any, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = batchlab_cli("train", "digits.yaml", "--run-dir", "run", "-q")
    assert done.code == 0, done.stderr
    assert "Test: accuracy" in done.stdout and "Run directory: run" in done.stdout
    run = tmp_path / "run"
    for name in ("model.safetensors", "preprocess.json", "metrics.csv", "plots/learning_curves.png"):
        assert (run / name).exists(), name
    assert (run / "plots" / "spectrograms.png").stat().st_size > 10_000
    saved = json.loads((run / "test_metrics.json").read_text())
    matrix = np.array(saved["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == saved["samples"] == 20

    done = batchlab_cli("evaluate", "run")  # the test split again, with the saved preprocessing
    assert done.code == 0, done.stderr
    assert f"accuracy {saved['accuracy']:.4f}" in done.stdout
    table = done.stdout[done.stdout.index("confusion matrix") :].splitlines()
    counts = [[int(c) for c in line.replace("│", " ").split()[1:]] for line in table if line.strip()[:1].isdigit()]
    assert counts == saved["confusion_matrix"]

    new = fsdd_subset(speakers=("theo",), takes=range(30, 32), digits=range(4), folder="new-recordings")
    done = batchlab_cli("predict", "run", "new-recordings/", "-o", "out.csv")
    assert done.code == 0, done.stderr
    assert "Wrote 8 predictions to out.csv" in done.stdout
    with (tmp_path / "out.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["file"] for r in rows) == sorted(p.name for p in new.glob("*.wav"))
    assert list(rows[0]) == ["file", "prediction", *[f"prob_{d}" for d in range(10)]]
    for row in rows:
        probabilities = [float(row[f"prob_{d}"]) for d in range(10)]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert row["prediction"] == str(int(np.argmax(probabilities)))

    (run / "plots" / "spectrograms.png").unlink()
    done = batchlab_cli("report", "run")
    assert done.code == 0, done.stderr
    assert (run / "plots" / "spectrograms.png").exists() and "spectrograms.png" in done.stdout


# Trains in a process that kills itself with SIGKILL right after optimizer step N.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import batchlab
    from batchlab.train.callbacks import Callback

    at, config, run_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    class KillAtStep(Callback):
        def on_step_end(self, state):
            if state.step == at:
                os.kill(os.getpid(), signal.SIGKILL)

    batchlab.fit(config, run_dir=run_dir, callbacks=[KillAtStep()], progress=False)
    """
)


def test_sigkill_mid_epoch_then_resume_gives_bit_identical_weights_and_metrics(
    batchlab_cli, digits: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    full = batchlab_cli("train", "digits.yaml", "--run-dir", "full", "-q", "--no-plots")
    assert full.code == 0, full.stderr
    assert json.loads((tmp_path / "full" / "run.json").read_text())["steps_per_epoch"] == 8  # 60 recordings / 8
    (tmp_path / "killer.py").write_text(KILLER)
    # step 11 is the 3rd batch of epoch 2, two steps after the checkpoint of step 9
    killed = subprocess.run(
        [sys.executable, "killer.py", "11", "digits.yaml", "killed"], cwd=tmp_path, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    killed_run = tmp_path / "killed"
    assert sorted(p.name for p in (killed_run / "checkpoints").glob("step-*"))[-1] == "step-000000009"
    assert not (killed_run / "model.safetensors").exists()

    resumed = batchlab_cli("train", "--resume", "killed", "-q", "--no-plots")
    assert resumed.code == 0, resumed.stderr
    expected, got = (
        load_weights(tmp_path / "full" / "model.safetensors"),
        load_weights(killed_run / "model.safetensors"),
    )
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert _rows(killed_run / "metrics.csv") == _rows(tmp_path / "full" / "metrics.csv")
    full_test = json.loads((tmp_path / "full" / "test_metrics.json").read_text())
    assert json.loads((killed_run / "test_metrics.json").read_text()) == full_test


def test_batch_size_study_on_recordings(batchlab_cli, digits: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = batchlab_cli(
        "study", "batch-size", "digits.yaml", "--sizes", "4,16", "--budget", "1epochs",
        "--target", "val_accuracy=0.3", "--study-dir", "study",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert "2 batch sizes x 1 seed = 2 cells" in done.stdout
    cells = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "study").glob("runs/*/cell.json")}
    assert sorted(cells) == ["b16-s0", "b4-s0"]
    assert cells["b4-s0"]["steps"] == 15 and cells["b16-s0"]["steps"] == 4  # ceil(60 / 4), ceil(60 / 16)
    assert (tmp_path / "study" / "study.json").exists()


def test_tune_on_recordings(batchlab_cli, digits: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "space.yaml").write_text("train.optimizer.lr: {choice: [0.001, 0.01]}\n")
    done = batchlab_cli(
        "tune", "digits.yaml", "--space", "space.yaml", "--method", "grid", "--trials", "2", "--study-dir", "tuned",
        "--set", "train.epochs=1",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    with (tmp_path / "tuned" / "trials.csv").open(newline="") as handle:
        trials = list(csv.DictReader(handle))
    assert [t["state"] for t in trials] == ["COMPLETE", "COMPLETE"]
    assert sorted(float(t["train.optimizer.lr"]) for t in trials) == [0.001, 0.01]
    assert all(0.0 <= float(t["val_accuracy"]) <= 1.0 for t in trials)
    best = (tmp_path / "tuned" / "best_config.yaml").read_text()
    assert "label_pattern" in best and "specaugment" in best


def test_two_workers_reach_the_weights_of_one_process(batchlab_cli, digits: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # No augmentation, dropout or batch norm: each worker pads and featurizes its half of every global
    # batch, and the masked models do not depend on padding, so two workers take one process's steps.
    common = ["--set", "data.augment=[]", "--set", "model.batchnorm=false", "--set", "model.dropout=0.0", "-q"]
    common += ["--set", "train.epochs=2", "--no-plots"]
    one = batchlab_cli("train", "digits.yaml", "--run-dir", "one", *common)
    assert one.code == 0, one.stderr
    two = batchlab_cli("train", "digits.yaml", "--nproc", "2", "--run-dir", "two", *common)
    assert two.code == 0, two.stderr[-3000:]
    assert two.stdout.count("Run directory:") == 1
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["world_size"] == 2 and info["per_worker_batch"] == 4
    expected, got = (
        load_weights(tmp_path / "one" / "model.safetensors"),
        load_weights(tmp_path / "two" / "model.safetensors"),
    )
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5)
    single, double = _rows(tmp_path / "one" / "metrics.csv"), _rows(tmp_path / "two" / "metrics.csv")
    assert [r["val_accuracy"] for r in single] == [r["val_accuracy"] for r in double]
