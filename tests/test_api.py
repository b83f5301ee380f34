"""The Python API: fit(config) end to end on built-in data, custom modules, binary and regression tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import batchlab
from batchlab.errors import ConfigError, DataError, DivergenceError
from batchlab.experiment.inference import evaluate_run, load_run, predict_run
from batchlab.train.callbacks import Callback
from batchlab.train.state import LoopState


def _quick(tmp_path: Path, source: str, **train: object) -> dict:
    return {"name": source, "data": {"source": source}, "train": {"epochs": 30, "batch_size": 16, **train}}


def test_fit_a_config_dict_returns_history_and_test_metrics(tmp_path: Path) -> None:
    result = batchlab.fit(
        _quick(tmp_path, "iris", optimizer={"name": "adam", "lr": 0.01}),
        run_dir=tmp_path / "run",
        progress=False,
    )
    assert result.test_metrics is not None and result.test_metrics["accuracy"] >= 0.85
    assert len(result.history) >= 1 and result.history[0]["epoch"] == 1
    assert (tmp_path / "run" / "plots" / "learning_curves.png").exists()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "finished" and info["classes"] == ["setosa", "versicolor", "virginica"]


def test_a_custom_module_trains_and_reloads(tmp_path: Path) -> None:
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    result = batchlab.fit(
        _quick(tmp_path, "iris", optimizer={"name": "adam", "lr": 0.01}),
        model=Tiny(),
        run_dir=tmp_path / "run",
        progress=False,
    )
    assert result.test_metrics is not None and result.test_metrics["accuracy"] > 0.8
    from batchlab.errors import CheckpointError

    with pytest.raises(CheckpointError, match="custom module"):
        load_run(tmp_path / "run")
    trained = load_run(tmp_path / "run", model=Tiny())
    assert isinstance(trained.model, Tiny)


def test_binary_classification_uses_bce_with_one_output(tmp_path: Path) -> None:
    result = batchlab.fit(
        _quick(tmp_path, "breast_cancer", optimizer={"name": "adam", "lr": 0.001}),
        run_dir=tmp_path / "run",
        progress=False,
    )
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["loss"] == "bce" and info["num_outputs"] == 1
    assert (
        result.test_metrics is not None and result.test_metrics["accuracy"] > 0.88
    )  # logistic regression: 0.95 on this 85-row split
    assert len(result.test_metrics["confusion_matrix"]) == 2


def test_regression_metrics_are_in_the_targets_units(tmp_path: Path) -> None:
    result = batchlab.fit(
        _quick(tmp_path, "diabetes", optimizer={"name": "adam", "lr": 0.003}),
        run_dir=tmp_path / "run",
        progress=False,
    )
    metrics = result.test_metrics
    assert metrics is not None
    assert metrics["r2"] > 0.3
    assert 25 < metrics["mae"] < 80  # disease progression units (targets range 25..346), not standardized


def test_evaluate_and_predict_reuse_the_saved_preprocessing(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.datasets import load_iris

    batchlab.fit(
        _quick(tmp_path, "iris", optimizer={"name": "adam", "lr": 0.01}),
        run_dir=tmp_path / "run",
        progress=False,
    )
    saved = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert evaluate_run(tmp_path / "run")["accuracy"] == pytest.approx(saved["accuracy"])
    iris = load_iris(as_frame=True)
    iris.frame.drop(columns="target").to_csv(tmp_path / "new.csv", index=False)
    assert predict_run(tmp_path / "run", tmp_path / "new.csv", tmp_path / "out.csv") == 150
    out = pd.read_csv(tmp_path / "out.csv")
    names = ["setosa", "versicolor", "virginica"]
    hits = (out["prediction"] == [names[t] for t in iris.target]).mean()
    assert hits > 0.85
    assert out[[f"prob_{n}" for n in names]].sum(axis=1).round(5).eq(1).all()


def test_divergence_raises_with_the_step_and_keeps_the_run(tmp_path: Path) -> None:
    config = _quick(tmp_path, "diabetes", optimizer={"name": "sgd", "lr": 50.0}, early_stopping={"enabled": False})
    with pytest.raises(DivergenceError, match=r"loss became (nan|inf) at step \d+"):
        batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "diverged"


def test_without_a_validation_split_early_stopping_needs_a_train_metric(tmp_path: Path) -> None:
    config = {"data": {"source": "iris", "split": {"val": 0.0}}, "train": {"epochs": 3}}
    with pytest.raises(ConfigError, match="no validation split"):
        batchlab.fit(config, run_dir=tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()
    config["train"]["early_stopping"] = {"monitor": "train_loss"}  # type: ignore[index]
    result = batchlab.fit(config, run_dir=tmp_path / "b", progress=False)
    assert "val_loss" not in result.history[0]


def test_accumulation_reports_the_effective_batch(tmp_path: Path) -> None:
    batchlab.fit(
        _quick(tmp_path, "iris", epochs=1, batch_size=8, accumulate=4),
        run_dir=tmp_path / "run",
        progress=False,
    )
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["effective_batch"] == 32 and info["batch_size"] == 8
    # A batch is one optimizer step of the effective batch, cut into 4 micro-batches of 8.
    assert info["steps_per_epoch"] == info["batches_per_epoch"] == -(-info["train_samples"] // 32)


def test_a_data_error_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a,y\n1,x\n2,x\n3,x\n")
    with pytest.raises(DataError):
        batchlab.fit({"data": {"source": "t.csv"}}, progress=False)
    assert not (tmp_path / "runs").exists()


def test_lr_scaling_rule_sets_the_rate_and_records_it(tmp_path: Path) -> None:
    config = {"data": {"source": "iris"}, "train": {"epochs": 1, "batch_size": 8, "lr_scaling": {"rule": "linear"}}}
    result = batchlab.fit(config, overrides=["train.batch_size=32"], run_dir=tmp_path / "run", progress=False)
    assert result.info["lr"] == pytest.approx(0.05 * 32 / 8)
    assert result.history[0]["lr"] == pytest.approx(0.2)
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "rule: linear" in saved and "base_batch_size: 8" in saved


def test_a_full_disk_is_detected_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(ConfigError, match=r"--run-dir: only 0 MiB free"):
        batchlab.fit({"data": {"source": "iris"}, "train": {"epochs": 1}}, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_the_best_weights_are_kept_beside_the_checkpoints(tmp_path: Path) -> None:
    result = batchlab.fit(
        _quick(tmp_path, "iris", epochs=5, early_stopping={"monitor": "val_accuracy"}),
        run_dir=tmp_path / "run",
        progress=False,
    )
    best = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    assert best["monitor"] == "val_accuracy"
    assert best["value"] == max(r["val_accuracy"] for r in result.history)
    assert (tmp_path / "run" / "checkpoints" / "best.safetensors").exists()


def test_compile_trains_like_eager_and_saves_plain_weights(tmp_path: Path) -> None:
    """``train.compile`` wraps the model in torch.compile; weights, checkpoints and metrics stay the same."""
    from safetensors.torch import load_file

    runs = {}
    for compiled in (False, True):
        config = _quick(tmp_path, "iris", epochs=3, compile=compiled)
        runs[compiled] = batchlab.fit(config, run_dir=tmp_path / f"run-{compiled}", progress=False)
    eager, fast = runs[False], runs[True]
    assert [round(r["val_loss"], 4) for r in fast.history] == [round(r["val_loss"], 4) for r in eager.history]
    saved = load_file(fast.run_dir / "model.safetensors")
    assert set(saved) == set(load_file(eager.run_dir / "model.safetensors"))  # no "_orig_mod." prefixes
    checkpoint = sorted((fast.run_dir / "checkpoints").glob("step-*"))[-1]
    assert not any("_orig_mod" in key for key in load_file(checkpoint / "model.safetensors"))


class _DieAfterCheckpoint(Callback):
    """Raises when step ``at`` closes, right after that step's checkpoint (user callbacks come after it)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_closed(self, state: LoopState) -> None:
        if state.step == self.at:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize(
    ("train", "at"),
    [
        ({"epochs": 2, "val_every_steps": 5, "checkpoint": {"every_steps": 5}}, 10),  # a row due mid-epoch
        ({"epochs": 2, "checkpoint": {"every_steps": 10}}, 10),  # the row of an epoch's end (the lr of its step)
        ({"epochs": None, "max_steps": 10, "checkpoint": {"every_steps": 10}}, 10),  # the last row, at an epoch end
        ({"epochs": None, "max_steps": 7, "checkpoint": {"every_steps": 7}}, 7),  # the last row, mid-epoch
        ({"epochs": None, "max_steps": 12, "val_every_steps": 5, "checkpoint": {"every_steps": 12}}, 12),
        ({"epochs": 1, "val_every_steps": 4, "checkpoint": {"every_steps": 10}}, 10),  # last row, not a multiple
    ],
)
def test_a_run_resumed_from_the_checkpoint_of_a_step_due_a_metrics_row_still_has_that_row(
    tmp_path: Path, train: dict, at: int
) -> None:
    config = {
        "data": {"source": "iris"},
        "model": {"hidden": [8]},
        "train": {
            "batch_size": 11,  # 104 training rows: 10 batches per epoch
            "optimizer": {"name": "adam", "lr": 0.01},
            "schedule": {"name": "cosine", "warmup_steps": 3},
            "early_stopping": {"enabled": False},
            **train,
            "checkpoint": {"every_epochs": None, "every_seconds": None, **train["checkpoint"]},
        },
    }
    full = batchlab.fit(config, run_dir=tmp_path / "full", progress=False, plots=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        batchlab.fit(config, run_dir=tmp_path / "run", callbacks=[_DieAfterCheckpoint(at)], progress=False)
    saved = json.loads((tmp_path / "run" / "checkpoints" / f"step-{at:09d}" / "state.json").read_text())
    assert saved["history"][-1]["step"] == at  # the checkpoint holds its step's row
    resumed = batchlab.fit(None, resume=tmp_path / "run", progress=False, plots=False)

    def rows(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert rows(resumed.history) == rows(full.history)
    assert resumed.info["epochs_run"] == full.info["epochs_run"]
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == len(full.history) + 1
