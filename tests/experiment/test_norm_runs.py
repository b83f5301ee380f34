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


def _texts(tmp_path: Path, model: dict, batch_size: str, **train: object) -> dict:
    """Short texts of 2-5 words and a few of 30, two classes; a bag of embeddings with a dense head."""
    rows = ["text,label"]
    for i in range(120):
        words = 30 if i % 10 == 0 else 2 + i % 4
        rows.append(" ".join(["good" if i % 2 else "bad"] * words) + f",{i % 2}")
    (tmp_path / "texts.csv").write_text("\n".join(rows) + "\n")
    return {
        "data": {
            "source": str(tmp_path / "texts.csv"),
            "text": "text",
            "target": "label",
            "tokenizer": {"kind": "word"},
        },
        "model": {"name": "bag", "embed": 8, "hidden": [8], "norm_groups": 4, **model},
        "train": {
            "batch_size": int(batch_size) if batch_size.isdigit() else batch_size,
            "epochs": None,
            "max_steps": 6,
            "early_stopping": {"enabled": False},
            **train,
        },
    }


def test_a_token_budget_must_give_batch_norm_two_samples_per_batch(tmp_path: Path) -> None:
    # A budget below twice the longest text puts that text in a batch of its own: refused before training.
    for norm in ("batch", "ghost"):
        with pytest.raises(ConfigError) as error:
            build_run(make_config(_texts(tmp_path, {"norm": norm, "ghost_batch_size": 2}, "40tokens")))
        message = str(error.value)
        longest = int(message.split("longest training text (")[1].split(" tokens")[0])
        assert longest >= 30 and f"use a budget of at least {2 * longest}tokens, or model.norm: group" in message
        assert f"(model.norm: {norm})" in message and "\n" not in message
    # Twice the longest text: every batch of every epoch holds 2 samples or more, and training runs.
    parts = build_run(make_config(_texts(tmp_path, {"norm": "batch"}, f"{2 * longest}tokens")))
    sizes = [len(rows) for epoch in range(3) for rows in parts.train.plan(epoch)]  # type: ignore[attr-defined]
    assert min(sizes) >= 2 and max(sizes) > min(sizes)  # variable batches
    fit(parts.model, parts.train, objective=parts.objective, optimizer=parts.optimizer,
        scheduler=parts.scheduler, val=None, settings=parts.settings)  # fmt: skip
    # Per-sample norms need no second sample: the small budget trains.
    for norm in ("group", "layer", "none"):
        build_run(make_config(_texts(tmp_path, {"norm": norm}, "40tokens")))


def test_ghost_batches_of_a_token_budget_follow_the_varying_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No error for a ghost size above some batches (the batch varies): each such batch is one ghost batch.
    config = _texts(tmp_path, {"norm": "ghost", "ghost_batch_size": 4}, "120tokens")
    parts = build_run(make_config(config))
    sizes = {len(rows) for rows in parts.train.plan(0)}  # type: ignore[attr-defined]
    assert min(sizes) < 4 < max(sizes)
    fit(parts.model, parts.train, objective=parts.objective, optimizer=parts.optimizer,
        scheduler=parts.scheduler, val=None, settings=parts.settings)  # fmt: skip
    assert "ghost" not in caplog.text
    # A ghost size at least the mean batch: a warning that ghost norm mostly acts as batch norm.
    config["model"]["ghost_batch_size"] = 64
    build_run(make_config(config))
    assert "model.ghost_batch_size: 64 is not smaller than the mean batch of train.batch_size: 120tokens" in caplog.text


def test_token_batch_norm_in_transformer_blocks_is_held_to_two_samples_too(tmp_path: Path) -> None:
    model = {"name": "transformer", "embed": 8, "heads": 2, "layers": 1, "norm": "none", "block_norm": "batch"}
    with pytest.raises(ConfigError, match=r"\(model.block_norm: batch\).* or model.block_norm: layer, group or none$"):
        build_run(make_config(_texts(tmp_path, model, "1")))
    with pytest.raises(ConfigError, match=r"longest training text .*\(model.block_norm: batch\)"):
        build_run(make_config(_texts(tmp_path, model, "40tokens")))
    parts = build_run(make_config(_texts(tmp_path, model, "64tokens", precise_bn=4, max_steps=2)))
    fit(parts.model, parts.train, objective=parts.objective, optimizer=parts.optimizer,
        scheduler=parts.scheduler, val=None, settings=parts.settings)  # fmt: skip
