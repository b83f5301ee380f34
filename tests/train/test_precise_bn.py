"""Precise batch norm: running statistics recomputed on training batches before evaluation."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

import batchlab
from batchlab.data.batching import MiniBatches
from batchlab.models.norms import GhostBatchNorm
from batchlab.train.checkpoint import load_weights
from batchlab.train.precise_bn import recompute_batch_norm


def test_statistics_become_the_training_sets_mean_and_variance() -> None:
    torch.manual_seed(0)
    x = torch.randn(4000, 3) * torch.tensor([1.0, 3.0, 0.5]) + torch.tensor([2.0, -1.0, 0.0])
    batches = MiniBatches(x, torch.zeros(4000), 2, seed=0)
    for norm in (nn.BatchNorm1d(3), GhostBatchNorm(3, ghost_size=2)):
        model = nn.Sequential(norm).train()
        for batch in batches.epoch(0):  # batch norm trained on batches of 2: an average of the last few
            model(batch.x)
        ema_error = (norm.running_mean - x.mean(0)).abs().max()
        passes = recompute_batch_norm(model, batches.epoch(1), max_batches=len(batches))
        assert passes == len(batches) == 2000
        # Equal-sized batches: the average of their means is the training mean, exactly.
        torch.testing.assert_close(norm.running_mean, x.mean(0), rtol=0, atol=1e-5)
        assert (norm.running_mean - x.mean(0)).abs().max() < ema_error / 10
        # The average of unbiased batch variances estimates the training variance.
        torch.testing.assert_close(norm.running_var, x.var(0), rtol=0.08, atol=0)
        assert norm.momentum == 0.1  # restored
    # Layers without running statistics: nothing to do.
    assert recompute_batch_norm(nn.Sequential(nn.LayerNorm(3)), batches.epoch(0), 10) == 0


def test_micro_batches_are_the_statistics_batches() -> None:
    x = torch.arange(8.0).repeat_interleave(2).view(16, 1)  # batch of 16 = micro-batches of 4 under accumulation
    norm = nn.BatchNorm1d(1)
    recompute_batch_norm(nn.Sequential(norm), [MiniBatches(x, torch.zeros(16), 16, shuffle=False).epoch(0).__next__()],
                         1, micro_batches=4)  # fmt: skip
    micro_var = torch.stack([part.var() for part in x.split(4)]).mean()
    torch.testing.assert_close(norm.running_var, micro_var.view(1))
    assert int(norm.num_batches_tracked) == 4


def _run(tmp_path: Path, name: str, precise: int) -> batchlab.RunResult:
    config = {
        "data": {"source": "digits"},
        "model": {"name": "cnn", "channels": [8, 16], "hidden": [32], "norm": "batch"},
        "train": {
            "batch_size": 4,
            "epochs": None,
            "max_steps": 400,
            "val_every_steps": 100,
            "precise_bn": precise,
            "early_stopping": {"enabled": False},
            "optimizer": {"name": "sgd", "lr": 0.02, "momentum": 0.9},
        },
    }
    return batchlab.fit(config, run_dir=tmp_path / name, progress=False, plots=False)


def test_a_run_trained_with_tiny_batches_evaluates_better_and_trains_the_same(tmp_path: Path) -> None:
    plain, precise = _run(tmp_path, "plain", 0), _run(tmp_path, "precise", 300)
    # Training is untouched: same losses, same weights; only the running statistics differ.
    assert [r["train_loss"] for r in plain.history] == [r["train_loss"] for r in precise.history]
    a, b = (
        load_weights(tmp_path / "plain" / "model.safetensors"),
        load_weights(tmp_path / "precise" / "model.safetensors"),
    )
    for key in a:
        if "running" in key or "num_batches" in key:
            continue
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert not torch.allclose(a["1.running_var"], b["1.running_var"])
    # Evaluation changes at every row, and is better on average over the run (the early rows, where
    # the running average trails the moving weights most, gain most; a late row can lose a little).
    losses = [(row["val_loss"], other["val_loss"]) for row, other in zip(plain.history, precise.history, strict=True)]
    assert all(a != b for a, b in losses)
    assert sum(b for _, b in losses) < sum(a for a, _ in losses)
    assert losses[0][1] < losses[0][0]
