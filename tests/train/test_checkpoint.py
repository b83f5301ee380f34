"""Checkpoints: round trip, checksums, fallback to an older checkpoint, no code execution on load."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from batchlab.errors import CheckpointError
from batchlab.train.checkpoint import (
    latest_valid_checkpoint,
    load_checkpoint,
    load_weights,
    restore_rng,
    save_checkpoint,
    save_weights,
)


def _save(directory: Path, step: int) -> Path:
    torch.manual_seed(step)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return save_checkpoint(
        directory,
        model=model,
        optimizer=optimizer,
        scheduler=None,
        state={"step": step, "epoch": 1, "history": [{"epoch": 1}]},
        extra_tensors={"best/weight": torch.ones(2)},
    )


def test_round_trip_restores_every_part(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for _ in range(3):  # moments, step counts, running statistics and the schedule all move
        model(torch.randn(8, 3)).pow(2).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
    state = {"step": 7, "epoch": 1, "history": [{"epoch": 1, "val_loss": 0.25}], "callbacks": {"X": {"best": 0.5}}}
    best = torch.randn(4, 3)
    random.seed(11)
    np.random.seed(12)
    torch.manual_seed(13)
    path = save_checkpoint(
        tmp_path, model=model, optimizer=optimizer, scheduler=scheduler, state=state, extra_tensors={"best/w": best}
    )
    # What each generator would have drawn next, had training continued.
    expected = (torch.rand(5), np.random.rand(5), [random.random() for _ in range(5)])
    assert path.name == "step-000000007"
    assert not list(tmp_path.glob(".*"))  # no staging directory left

    loaded = load_checkpoint(path)
    weights = model.state_dict()
    assert set(loaded.model) == set(weights)
    for name, tensor in weights.items():
        assert torch.equal(loaded.model[name], tensor), name  # running_mean, num_batches_tracked included
    saved_optimizer, live_optimizer = loaded.optimizer["optimizer"], optimizer.state_dict()
    assert saved_optimizer["param_groups"] == live_optimizer["param_groups"]
    assert saved_optimizer["param_groups"][0]["lr"] == 0.005  # halved once by the schedule
    for index, moments in live_optimizer["state"].items():
        for key, value in moments.items():
            assert torch.equal(saved_optimizer["state"][index][key], value), (index, key)
    assert loaded.optimizer["scheduler"] == scheduler.state_dict()
    assert torch.equal(loaded.extra["best/w"], best)
    assert {k: loaded.state[k] for k in state} == state

    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    restore_rng(loaded.rng, loaded.state)
    assert torch.equal(torch.rand(5), expected[0])
    assert np.array_equal(np.random.rand(5), expected[1])
    assert [random.random() for _ in range(5)] == expected[2]


def test_a_truncated_file_is_detected_and_the_previous_checkpoint_used(tmp_path: Path) -> None:
    _save(tmp_path, 1)
    newest = _save(tmp_path, 2)
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="model.safetensors does not match its checksum"):
        load_checkpoint(newest)
    checkpoint, problems = latest_valid_checkpoint(tmp_path)
    assert checkpoint is not None and checkpoint.state["step"] == 1
    assert len(problems) == 1 and "step-000000002" in problems[0]


def test_a_missing_manifest_is_reported(tmp_path: Path) -> None:
    path = _save(tmp_path, 3)
    (path / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="no readable manifest"):
        load_checkpoint(path)


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned-by-checkpoint",))


def test_a_crafted_pickle_does_not_execute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _save(tmp_path / "checkpoints", 4)
    (path / "optimizer.pt").write_bytes(pickle.dumps({"optimizer": _Exploit()}))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["optimizer.pt"] = hashlib.sha256((path / "optimizer.pt").read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))  # an attacker can fix the checksums too
    with pytest.raises(CheckpointError, match="refused without running them"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_weights_round_trip_and_damage(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(torch.randn(5, 3))  # batch-norm statistics away from their initial values
    save_weights(tmp_path / "model.safetensors", model.state_dict())
    loaded = load_weights(tmp_path / "model.safetensors")
    assert set(loaded) == set(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded[name], tensor) and loaded[name].dtype == tensor.dtype, name
    (tmp_path / "bad.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="is damaged"):
        load_weights(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights(tmp_path / "none.safetensors")
