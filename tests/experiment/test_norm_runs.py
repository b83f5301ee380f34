"""Which batch the batch-norm statistics come from in a run, and the config errors of model.norm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import batchlab
from batchlab.config import make_config
from batchlab.errors import ConfigError
from batchlab.experiment.builder import build_run
from batchlab.train.loop import fit


def _digits(model: dict, **train: object) -> dict:
    base = {"epochs": None, "max_steps": 4, "early_stopping": {"enabled": False}}
    optimizer = {"name": "sgd", "lr": 0.05, "momentum": 0.0}
    return {
        "data": {"source": "digits"},
        "model": {"name": "cnn", "channels": [8], "hidden": [16], **model},
        "train": {**base, "optimizer": optimizer, **train},
    }


def _trained_state(config: dict) -> dict[str, torch.Tensor]:
    parts = build_run(make_config(config))
    fit(parts.model, parts.train, objective=parts.objective, optimizer=parts.optimizer,
        scheduler=parts.scheduler, val=None, settings=parts.settings)  # fmt: skip
    return {k: v.detach().clone() for k, v in parts.module.state_dict().items()}


def test_accumulation_normalizes_each_micro_batch_as_ghost_batches_of_that_size_would() -> None:
    # Effective batch 64 both times: 4 micro-batches of 16 with batch norm, or one batch of 64 with
    # ghost batches of 16. Same statistics, same gradients, same running statistics.
    micro = _trained_state(_digits({"norm": "batch"}, batch_size=16, accumulate=4))
    ghost = _trained_state(_digits({"norm": "ghost", "ghost_batch_size": 16}, batch_size=64))
    whole = _trained_state(_digits({"norm": "batch"}, batch_size=64))
    assert micro.keys() == ghost.keys()
    for name, value in micro.items():
        torch.testing.assert_close(ghost[name], value, rtol=1e-4, atol=1e-5)
    # Plain batch norm over the effective batch is another model.
    assert not torch.allclose(whole["0.weight"], micro["0.weight"], atol=1e-5)
    assert not torch.allclose(whole["1.running_var"], micro["1.running_var"], atol=1e-5)


def test_ghost_batch_larger_than_the_batch_is_an_error_before_anything_is_written(tmp_path: Path) -> None:
    config = _digits({"norm": "ghost", "ghost_batch_size": 32}, batch_size=16)
    with pytest.raises(ConfigError, match=r"model.ghost_batch_size: 32 is larger .* train.batch_size: 16"):
        batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    # Accumulation does not make the forward batch larger: the micro-batch is what the norm sees.
    with pytest.raises(ConfigError, match=r"model.ghost_batch_size: 32"):
        build_run(make_config(_digits({"norm": "ghost", "ghost_batch_size": 32}, batch_size=16, accumulate=4)))


def test_batch_of_one_needs_a_per_sample_norm(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train.batch_size: 1 .* \(model.norm: batch\).* model.norm: group"):
        build_run(make_config(_digits({"norm": "batch"}, batch_size=1)))
    with pytest.raises(ConfigError, match=r"model.norm: ghost"):
        build_run(make_config(_digits({"norm": "ghost", "ghost_batch_size": 2}, batch_size=1)))
    for norm in ("group", "layer", "none"):
        state = _trained_state(_digits({"norm": norm, "norm_groups": 4}, batch_size=1, max_steps=2))
        assert all(torch.isfinite(v).all() for v in state.values())
