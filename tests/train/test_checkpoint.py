"""Checkpoints: round trip, checksums, fallback to an older checkpoint, no code execution on load."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from batchlab.errors import CheckpointError
from batchlab.train.checkpoint import (
    latest_valid_checkpoint,
    load_checkpoint,
    load_weights,
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
    path = _save(tmp_path, 7)
    assert path.name == "step-000000007"
    loaded = load_checkpoint(path)
    assert loaded.state["step"] == 7 and loaded.state["history"] == [{"epoch": 1}]
    assert "state" in loaded.optimizer["optimizer"] and loaded.optimizer["scheduler"] is None
    assert torch.equal(loaded.extra["best/weight"], torch.ones(2))
    assert isinstance(loaded.rng["torch"], torch.Tensor)
    assert not list(tmp_path.glob(".*"))  # no staging directory left


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
    save_weights(tmp_path / "model.safetensors", model.state_dict())
    loaded = load_weights(tmp_path / "model.safetensors")
    assert set(loaded) == set(model.state_dict())
    (tmp_path / "bad.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="is damaged"):
        load_weights(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights(tmp_path / "none.safetensors")
