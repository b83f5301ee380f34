"""``batchlab.lr_find`` on real runs: every model family, accumulation, bf16, determinism, untouched models
and run directories, the notes, the files and the applied config."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import batchlab
from batchlab.config import load_config
from batchlab.errors import ConfigError
from batchlab.lr_range.range_test import RangeSettings

QUICK = {"steps": 20, "min_lr": 1e-4, "max_lr": 10.0}


def _digits(**train: Any) -> dict[str, Any]:
    return {
        "name": "digits",
        "data": {"source": "digits", "split": {"val": 0.15, "test": 0.15}},
        "model": {"name": "mlp", "hidden": [32]},
        "train": {"batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "threads": 1, **train},
    }


def _check_curve(result: Any, family: str) -> None:
    assert result.rates and len(result.rates) == len(result.losses) == len(result.smoothed), family
    assert result.initial_loss is not None and math.isfinite(result.initial_loss), family
    assert all(math.isfinite(x) for x in result.losses[:-1]), family
    assert result.suggestion.minimum_tenth is not None, family
    assert result.suggestion.best_loss < result.initial_loss, family  # something was learned


def test_the_same_seed_gives_the_same_curve_and_another_seed_another() -> None:
    first = batchlab.lr_find(_digits(), **QUICK)
    again = batchlab.lr_find(_digits(), **QUICK)
    other = batchlab.lr_find(_digits(seed=1), **QUICK)
    assert first.losses == again.losses and first.suggestion == again.suggestion
    assert first.losses != other.losses
    _check_curve(first, "mlp")


def test_a_custom_module_is_copied_and_left_as_it_was(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    result = batchlab.lr_find(_digits(), model=module, **QUICK)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert all(p.grad is None for p in module.parameters())
    _check_curve(result, "custom")
    assert result.info["parameters"] == 650


def test_nothing_is_written_without_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = batchlab.lr_find(_digits(), **QUICK)
    assert result.run_dir is None and result.files == []
    assert list(tmp_path.iterdir()) == []


def test_a_run_directory_only_gets_the_range_test_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "plots").mkdir(parents=True)
    kept = {"config.yaml": "name: mine\n", "run.json": '{"status": "finished"}\n', "plots/learning_curves.png": "png"}
    for name, text in kept.items():
        (run / name).write_text(text)
    result = batchlab.lr_find(_digits(), run_dir=run, **QUICK)
    for name, text in kept.items():
        assert (run / name).read_text() == text
    added = {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()} - set(kept)
    assert added == {"lr_find.csv", "lr_find.json", "plots/lr_find.png"}
    assert {p.name for p in result.files} == {"lr_find.csv", "lr_find.json", "lr_find.png"}


def test_the_files_hold_the_curve_and_the_suggestions(tmp_path: Path) -> None:
    result = batchlab.lr_find(_digits(), run_dir=tmp_path / "lr", **QUICK)
    record = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert record["kind"] == "lr-find" and record["points"] == len(result.rates)
    assert record["suggestions"]["min10"] == pytest.approx(result.suggestion.minimum_tenth)
    assert record["suggested_lr"] == result.suggested_lr == result.suggestion.minimum_tenth  # the default rule
    assert record["settings"] == RangeSettings(**{**QUICK}).to_dict()
    rows = (tmp_path / "lr" / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "point,lr,loss,smoothed_loss,samples"
    assert len(rows) == 1 + len(result.rates)
    point, rate, loss, _, samples = rows[1].split(",")
    assert (int(point), float(rate), int(samples)) == (1, pytest.approx(1e-4), 64)
    assert float(loss) == pytest.approx(result.losses[0], rel=1e-5)


def test_the_applied_config_has_the_suggested_rate_and_the_batch_it_was_measured_at(tmp_path: Path) -> None:
    config = _digits(lr_scaling={"rule": "sqrt", "base_batch_size": 8}, accumulate=2)
    result = batchlab.lr_find(config, run_dir=tmp_path / "lr", apply=True, rule="steepest", **QUICK)
    applied = load_config(tmp_path / "lr" / "lr_find_config.yaml")
    assert result.suggestion.steepest is not None
    assert applied.train.optimizer.lr == pytest.approx(result.suggestion.steepest, rel=5e-3)  # 3 digits
    assert applied.train.lr_scaling.base_batch_size == 64  # 32 x 2: the rate holds at this batch
    assert applied.train.batch_size == 32 and applied.name == "digits"
    assert any("train.lr_scaling (sqrt) is ignored" in note for note in result.notes)


def test_notes_for_an_ignored_schedule_and_batches_that_repeat() -> None:
    config = _digits(schedule={"name": "cosine", "warmup_steps": 40}, batch_size=256)
    result = batchlab.lr_find(config, **QUICK)
    notes = " | ".join(result.notes)
    assert "train.schedule (cosine, 40 warmup steps) is ignored" in notes
    # 1,257 training samples in batches of 256: 5 per epoch; 21 steps take 4.2 epochs.
    assert "21 steps (one per rate, plus the first loss) take 4.2 epochs of 5 batches" in notes


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, "--min 1 is not below --max 0.1"),
        ({"min_lr": 0.1, "max_lr": 0.1}, "--min 0.1 is not below --max 0.1"),
        ({"min_lr": -1.0}, "--min: the first learning rate must be a positive number"),
        ({"steps": 9}, "--steps: 9 is too few"),
        ({"mode": "log"}, "--mode: unknown spacing 'log'"),
        ({"smooth": 1.0}, "--smooth: expected a weight in [0, 1)"),
        ({"diverge": 1.0}, "--diverge: expected a factor above 1"),
    ],
)
def test_impossible_sweeps_are_one_line_errors(settings: dict[str, Any], fragment: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        batchlab.lr_find(_digits(), run_dir=tmp_path / "lr", **settings)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "lr").exists()


def test_an_unknown_rule_is_an_error() -> None:
    with pytest.raises(ConfigError, match="--rule: unknown rule 'valley'"):
        batchlab.lr_find(_digits(), rule="valley", **QUICK)


def test_a_config_mistake_leaves_no_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.batch_size"):
        batchlab.lr_find(_digits(batch_size=5000), run_dir=tmp_path / "lr", **QUICK)
    assert not (tmp_path / "lr").exists()


def test_accumulated_micro_batches_give_the_curve_of_the_whole_batch() -> None:
    whole = batchlab.lr_find(_digits(batch_size=32), **QUICK)
    accumulated = batchlab.lr_find(_digits(batch_size=16, accumulate=2), **QUICK)
    assert accumulated.info["effective_batch"] == 32 and accumulated.info["accumulate"] == 2
    points = min(len(whole.losses), len(accumulated.losses))
    np.testing.assert_allclose(accumulated.losses[:points], whole.losses[:points], rtol=1e-4)


def test_bf16_autocast_follows_the_fp32_curve() -> None:
    full = batchlab.lr_find(_digits(), **QUICK)
    half = batchlab.lr_find(_digits(precision="bf16"), **QUICK)
    assert half.info["precision"] == "bf16"
    _check_curve(half, "bf16")
    np.testing.assert_allclose(half.losses[:8], full.losses[:8], rtol=2e-2)  # bfloat16 keeps 8 bits of mantissa


def test_an_image_cnn() -> None:
    config = {**_digits(), "model": {"name": "cnn", "channels": [4], "hidden": [16], "batchnorm": True}}
    _check_curve(batchlab.lr_find(config, **QUICK), "cnn")


def test_a_text_classifier_on_a_slice_of_sms(shared_data: Path, tmp_path: Path) -> None:
    lines = (shared_data / "sms-spam" / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    (tmp_path / "sms.tsv").write_text("\n".join(lines[:400]) + "\n", encoding="utf-8")
    config = {
        "data": {
            "source": str(tmp_path / "sms.tsv"),
            "header": False,
            "columns": ["label", "message"],
            "text": "message",
            "target": "label",
            "tokenizer": {"kind": "char"},
            "max_length": 80,
        },
        "model": {"name": "transformer", "embed": 16, "layers": 1, "heads": 2, "dropout": 0.0},
        "train": {"batch_size": "1024tokens", "optimizer": {"name": "adamw", "lr": 0.001}, "threads": 1},
    }
    result = batchlab.lr_find(config, steps=12, min_lr=1e-4, max_lr=1.0)
    _check_curve(result, "text")
    assert result.info["batch_unit"] == "tokens" and result.info["lr_batch"] == 1024


def test_a_speech_model_on_a_few_recordings(fsdd_subset: Any) -> None:
    pytest.importorskip("soundfile", reason="the audio extra is not installed")
    source = fsdd_subset(speakers=("george",), takes=range(5, 9))
    config = {
        "data": {
            "source": str(source),
            "label_pattern": r"^(\d)_",
            "split": {"val": 0.2, "test": 0.0},
            "audio": {"sample_rate": 8000, "n_mels": 16, "max_seconds": 0.6},
        },
        "model": {"name": "cnn", "channels": [4], "hidden": [16]},
        "train": {"batch_size": 8, "optimizer": {"name": "adam", "lr": 0.003}, "threads": 1},
    }
    result = batchlab.lr_find(config, steps=12, min_lr=1e-4, max_lr=1.0)
    assert result.rates and all(math.isfinite(x) for x in result.losses[:-1])
    assert result.suggestion.minimum_tenth is not None


def test_the_written_config_trains_at_the_suggested_rate(tmp_path: Path) -> None:
    result = batchlab.lr_find(_digits(), run_dir=tmp_path / "lr", apply=True, **QUICK)
    text = (tmp_path / "lr" / "lr_find_config.yaml").read_text()
    assert yaml.safe_load(text)["train"]["optimizer"]["lr"] == float(f"{result.suggested_lr:.3g}")
    run = batchlab.fit(
        tmp_path / "lr" / "lr_find_config.yaml",
        overrides=["train.epochs=1"],
        run_dir=tmp_path / "run",
        progress=False,
        plots=False,
    )
    assert run.history[-1]["lr"] == pytest.approx(float(f"{result.suggested_lr:.3g}"))
