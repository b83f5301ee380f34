"""Which batch batch-norm statistics come from under data parallelism (two gloo workers on CPU).

Without ``model.sync_batchnorm`` each worker normalizes its own share of the global batch, which
is ghost batch norm with ghost batches of the per-worker size in one process. (With it, the whole
global batch: torch's SyncBatchNorm runs on CUDA only, so on CPU it is a config error.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from batchlab.train.checkpoint import load_weights

pytestmark = pytest.mark.slow

CONFIG = """
data: {source: digits, split: {val: 0.15, test: 0.15}}
model: {name: cnn, channels: [8], hidden: [16], norm: batch}
train:
  batch_size: 64
  epochs: null
  max_steps: 6
  optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
  early_stopping: {enabled: false}
"""


def _train(root: Path, run: str, *sets: str, workers: int = 1) -> subprocess.CompletedProcess[str]:
    args = ["train", "config.yaml", "--run-dir", run, "-q"]
    for item in sets:
        args += ["--set", item]
    if workers > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={workers}"]
        command += ["-m", "batchlab", *args]
    else:
        command = [sys.executable, "-m", "batchlab", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)


def _weights(root: Path, run: str) -> dict[str, torch.Tensor]:
    weights = load_weights(root / run / "model.safetensors")
    return {k: v for k, v in weights.items() if "running" not in k and "num_batches" not in k}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)


def test_workers_normalize_their_share_as_ghost_batches_do(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    for run, sets, workers in [
        ("two", (), 2),
        ("ghost", ("model.norm=ghost", "model.ghost_batch_size=32"), 1),
        ("whole", (), 1),
    ]:
        done = _train(tmp_path, run, *sets, workers=workers)
        assert done.returncode == 0, done.stderr[-3000:]
    per_worker, ghost, whole = (_weights(tmp_path, run) for run in ("two", "ghost", "whole"))
    assert _same(per_worker, ghost) and not _same(per_worker, whole)
    # Synchronized statistics need CUDA: on CPU, one line before anything is written.
    done = _train(tmp_path, "synced", "model.sync_batchnorm=true", workers=2)
    assert done.returncode != 0
    assert "batchlab: error: model.sync_batchnorm: true needs CUDA devices (this run is on cpu)" in done.stderr
    assert not (tmp_path / "synced").exists()  # (torchrun adds its own report of the failed workers)


def test_a_last_batch_too_small_to_give_each_worker_two_samples_is_left_out(tmp_path: Path) -> None:
    # 104 training samples in global batches of 6: the last batch of 2 would give each worker one
    # sample, which batch norm cannot train on; one process keeps it (2 samples are enough).
    (tmp_path / "config.yaml").write_text(
        "data: {source: iris}\nmodel: {hidden: [8], norm: batch}\ntrain: {batch_size: 6, epochs: 1, threads: 1}\n"
    )
    for run, workers in [("two", 2), ("one", 1)]:
        done = _train(tmp_path, run, workers=workers)
        assert done.returncode == 0, done.stderr[-3000:]
    two, one = (json.loads((tmp_path / run / "run.json").read_text()) for run in ("two", "one"))
    assert one["train_samples"] == two["train_samples"] == 104
    assert (one["batches_per_epoch"], one["samples"]) == (18, 104)
    assert (two["batches_per_epoch"], two["samples"]) == (17, 102)
