"""TensorBoard event files of a run, read back with TensorBoard's own reader, equal metrics.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

import batchlab
from batchlab.errors import ConfigError


def read_events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def scalar_series(events: EventAccumulator) -> dict[str, list[tuple[int, float]]]:
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def session_infos(events: EventAccumulator) -> tuple[plugin_data_pb2.SessionStartInfo, plugin_data_pb2.SessionEndInfo]:
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
    return start.session_start_info, end.session_end_info


def run(tmp_path: Path, name: str, **train: object) -> batchlab.RunResult:
    config = {
        "data": {"source": "iris"},
        "model": {"hidden": [8]},
        "train": {"batch_size": 16, "epochs": 4, "threads": 1, "log": {"tensorboard": True}, **train},
    }
    return batchlab.fit(config, run_dir=tmp_path / name, progress=False, plots=False)


def test_every_metrics_row_is_a_scalar_equal_to_metrics_csv(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "run",
        schedule={"name": "cosine"},
        noise_scale={"enabled": True, "every_steps": 2},
        val_every_steps=3,
    )
    with open(result.run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    series = scalar_series(read_events(result.run_dir / "tensorboard"))
    columns = [c for c in rows[0] if c != "step"]
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "noise_scale", "samples"} <= set(columns)
    for column in columns:
        logged = [(int(r["step"]), float(r[column])) for r in rows if r[column] != ""]
        assert [step for step, _ in series[column]] == [step for step, _ in logged], column
        for (_, got), (_, want) in zip(series[column], logged, strict=True):
            assert got == pytest.approx(want, rel=1e-6, abs=1e-7), column  # event files hold float32
    lrs = [value for _, value in series["lr"]]
    assert lrs[0] > lrs[-1]  # the cosine schedule's rate, row by row
    test_metrics = json.loads((result.run_dir / "test_metrics.json").read_text())
    last_step = int(rows[-1]["step"])
    assert series["test_accuracy"] == [(last_step, pytest.approx(test_metrics["accuracy"], rel=1e-6))]
    assert series["test_f1_macro"][0][1] == pytest.approx(test_metrics["f1_macro"], rel=1e-6)


def test_hparams_session_holds_the_config_and_its_status(tmp_path: Path) -> None:
    result = run(tmp_path, "run", optimizer={"name": "adam", "lr": 0.02})
    start, end = session_infos(read_events(result.run_dir / "tensorboard"))
    hparams = start.hparams
    assert hparams["train.batch_size"].number_value == 16
    assert hparams["train.optimizer.name"].string_value == "adam"
    assert hparams["train.optimizer.lr"].number_value == pytest.approx(0.02)
    assert hparams["model.hidden"].string_value == "[8]"
    assert hparams["data.source"].string_value == "iris"
    assert hparams["effective_batch"].number_value == 16
    assert "train.checkpoint.keep" not in hparams
    assert "train.grad_clip" not in hparams  # unset
    assert hparams["train.early_stopping.enabled"].bool_value is True
    assert end.status == api_pb2.STATUS_SUCCESS


def test_docstring_examples() -> None:
    import doctest

    from batchlab.train.callbacks import tensorboard

    result = doctest.testmod(tensorboard)
    assert result.failed == 0 and result.attempted > 0


def test_off_by_default_and_no_event_files(tmp_path: Path) -> None:
    config = {"data": {"source": "iris"}, "model": {"hidden": [4]}, "train": {"epochs": 1, "threads": 1}}
    result = batchlab.fit(config, run_dir=tmp_path / "plain", progress=False, plots=False)
    assert not (result.run_dir / "tensorboard").exists()


def test_resume_hides_what_the_first_life_wrote_after_the_checkpoint(tmp_path: Path) -> None:
    import shutil

    first = run(tmp_path, "run")  # 4 epochs of 7 steps, a checkpoint at every epoch's end
    checkpoints = sorted((first.run_dir / "checkpoints").glob("step-*"))
    shutil.rmtree(checkpoints[-1])  # as if killed before the last checkpoint: epoch 4 is trained again
    info = json.loads((first.run_dir / "run.json").read_text())
    (first.run_dir / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))  # not finished yet
    resumed = batchlab.fit(None, resume=first.run_dir, progress=False, plots=False)
    with open(resumed.run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    series = scalar_series(read_events(resumed.run_dir / "tensorboard"))
    assert len(list((resumed.run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 2
    assert [step for step, _ in series["train_loss"]] == [int(r["step"]) for r in rows]  # each row once
    assert series["train_loss"][-1][1] == pytest.approx(float(rows[-1]["train_loss"]), rel=1e-6)


def test_missing_package_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match=r"^train.log.tensorboard: needs the tensorboard package: pip install"):
        run(tmp_path, "run")
    assert not (tmp_path / "run").exists()
