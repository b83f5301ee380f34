"""The run builder: one config gives the same parts everywhere, and the bugs a closed module used to hide.

Each test below pins a bug of the old training module: precision that never reached the loop,
accumulation that was not the larger batch, batch norm on one sample, relative data paths, custom
modules that could not be evaluated, and the learning rate logged for the wrong step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

import batchlab
from batchlab.config import make_config
from batchlab.errors import CheckpointError, ConfigError
from batchlab.experiment.builder import build_run
from batchlab.train.callbacks import Callback
from batchlab.train.loop import fit
from batchlab.train.optim import lr_multiplier
from batchlab.train.state import LoopState


def _digits(**train: object) -> dict:
    base = {"epochs": 2, "early_stopping": {"enabled": False}, "optimizer": {"name": "sgd", "lr": 0.05}}
    return {"data": {"source": "digits"}, "train": {**base, **train}}


def _trained_weights(config: dict) -> dict[str, torch.Tensor]:
    parts = build_run(make_config(config))
    fit(parts.model, parts.train, objective=parts.objective, optimizer=parts.optimizer,
        scheduler=parts.scheduler, val=parts.val, settings=parts.settings)  # fmt: skip
    return parts.module.state_dict()


@pytest.mark.parametrize("drop_last", [False, True])
def test_accumulating_16_x_4_ends_with_the_weights_of_batch_64(drop_last: bool) -> None:
    whole = _trained_weights(_digits(batch_size=64, drop_last=drop_last))
    accumulated = _trained_weights(_digits(batch_size=16, accumulate=4, drop_last=drop_last))
    for name, value in whole.items():
        torch.testing.assert_close(accumulated[name], value, rtol=1e-5, atol=1e-6)
    # and a micro-batch of 16 alone is a different run
    small = _trained_weights(_digits(batch_size=16, drop_last=drop_last))
    assert not torch.allclose(small["1.weight"], whole["1.weight"], atol=1e-4)


def test_bf16_precision_reaches_the_loop_changes_the_numbers_and_still_learns(tmp_path: Path) -> None:
    fp32 = batchlab.fit(_digits(epochs=4), run_dir=tmp_path / "fp32", progress=False, plots=False)
    bf16 = batchlab.fit(_digits(epochs=4, precision="bf16"), run_dir=tmp_path / "bf16", progress=False, plots=False)
    assert fp32.history[-1]["train_loss"] != bf16.history[-1]["train_loss"]
    assert bf16.test_metrics is not None and bf16.test_metrics["accuracy"] >= 0.9
    parts = build_run(make_config(_digits(precision="bf16")))
    assert parts.settings.precision == "bf16"


def test_batch_norm_on_a_batch_of_one_sample_is_a_config_error_before_anything_is_written(tmp_path: Path) -> None:
    config = {"data": {"source": "iris"}, "model": {"batchnorm": True}, "train": {"batch_size": 1, "epochs": 1}}
    with pytest.raises(ConfigError, match=r"train.batch_size: 1 is too small for batch normalization"):
        batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_lone_last_sample_is_left_out_under_batch_norm(tmp_path: Path) -> None:
    # iris: 104 training samples; batches of 103 leave one sample alone at the end of each epoch.
    config = {"data": {"source": "iris"}, "model": {"batchnorm": True}, "train": {"batch_size": 103, "epochs": 3}}
    result = batchlab.fit(config, run_dir=tmp_path / "run", progress=False, plots=False)
    assert result.info["steps_per_epoch"] == 1 and result.history[-1]["samples"] == 3 * 103
    without = batchlab.fit({**config, "model": {}}, run_dir=tmp_path / "plain", progress=False, plots=False)
    assert without.info["steps_per_epoch"] == 2


class _Crash(Callback):
    def on_batch_end(self, state: LoopState, logs: dict[str, object]) -> None:
        if state.step == 3:
            raise RuntimeError("simulated crash")


def test_a_run_that_fails_before_its_first_checkpoint_removes_its_directory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        batchlab.fit(_digits(), run_dir=run, callbacks=[_Crash()], progress=False)
    assert not run.exists()
    assert batchlab.fit(_digits(epochs=1), run_dir=run, progress=False, plots=False).run_dir == run


def test_a_run_that_fails_after_a_checkpoint_is_marked_failed_and_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = _digits(epochs=2, checkpoint={"every_steps": 2, "every_epochs": None})
    with pytest.raises(RuntimeError):
        batchlab.fit(config, run_dir=run, callbacks=[_Crash()], progress=False)
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    resumed = batchlab.fit(None, resume=run, progress=False, plots=False)
    assert resumed.info["status"] == "finished" and resumed.info["steps"] == 2 * 20  # ceil(1257 / 64) per epoch


def test_a_run_with_a_relative_data_path_works_from_another_directory(tmp_path: Path) -> None:
    data = tmp_path / "work"
    data.mkdir()
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{'x' if i % 2 else 'y'}" for i in range(60)]
    (data / "t.csv").write_text("\n".join(rows) + "\n")
    here = os.getcwd()
    try:
        os.chdir(data)
        config = {"data": {"source": "t.csv"}, "train": {"epochs": 2, "batch_size": 8}}
        batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
        os.chdir(tmp_path)
        saved = (tmp_path / "run" / "config.yaml").read_text()
        assert str(data / "t.csv") in saved
        assert json.loads((tmp_path / "run" / "run.json").read_text())["data_paths_given"] == {"data.source": "t.csv"}
        assert batchlab.evaluate(tmp_path / "run")["samples"] > 0  # from another working directory
        assert batchlab.predict(tmp_path / "run", str(data / "t.csv"), tmp_path / "p.csv") == 60
    finally:
        os.chdir(here)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_a_custom_module_run_evaluates_predicts_and_resumes_with_the_module(tmp_path: Path) -> None:
    config = {"data": {"source": "iris"}, "train": {"epochs": 3, "batch_size": 16}}
    batchlab.fit(config, model=_Tiny(), run_dir=tmp_path / "run", progress=False, plots=False)
    with pytest.raises(CheckpointError, match=r"custom module \(_Tiny\).*model=_Tiny\(\.\.\.\)"):
        batchlab.evaluate(tmp_path / "run")
    metrics = batchlab.evaluate(tmp_path / "run", model=_Tiny())
    assert metrics["samples"] == 23 and 0.0 <= metrics["accuracy"] <= 1.0
    header = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)"
    (tmp_path / "in.csv").write_text(f"{header}\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    assert batchlab.predict(tmp_path / "run", tmp_path / "in.csv", tmp_path / "out.csv", model=_Tiny()) == 2
    more = {**config, "train": {**config["train"], "epochs": 5}}
    resumed = batchlab.fit(more, resume=tmp_path / "run", model=_Tiny(), progress=False, plots=False)
    assert resumed.info["epochs_run"] == 5


def test_the_lr_column_is_the_rate_of_the_rows_last_step() -> None:
    config = make_config(_digits(epochs=3, schedule={"name": "cosine", "warmup_steps": 5}))
    parts = build_run(config)
    state = fit(parts.model, parts.train, objective=parts.objective, optimizer=parts.optimizer,
                scheduler=parts.scheduler, val=parts.val, settings=parts.settings)  # fmt: skip
    total = state.total_steps
    for row in state.history:
        step = row["step"] - 1  # the row's last step, counted from 0
        used = 0.05 * lr_multiplier(step, total_steps=total, steps_per_epoch=20, cfg=config.train.schedule)
        assert row["lr"] == pytest.approx(used)
