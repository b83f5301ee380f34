"""Audio runs through the Python API on a small part of FSDD (real recordings): splits, features,
fixed-length crops, every model family on frames, early stopping, evaluation and prediction."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import batchlab
from batchlab.errors import ConfigError
from batchlab.experiment.inference import evaluate_run, load_run
from batchlab.train.callbacks import Callback
from batchlab.train.checkpoint import load_weights
from batchlab.train.evaluation import evaluate_batches

pytest.importorskip("soundfile", reason="the audio extra is not installed")


def _config(source: Path, **sections: Any) -> dict[str, Any]:
    """A small, quick audio config on ``source``; ``sections`` replace or extend its sections."""
    data = {
        "source": str(source),
        "label_pattern": r"^(\d)_",
        "group_pattern": r"^\d_([a-z]+)_",
        "split": {"val": 0.2, "test": 0.2, "seed": 0},
        "audio": {"sample_rate": 8000, "n_mels": 20, "max_seconds": 0.8},
        "augment": [{"noise": {"snr_db": 20}}, {"shift": {"max_ms": 50}}, {"specaugment": {"time_width": 5}}],
        **sections.pop("data", {}),
    }
    model = {"name": "cnn", "channels": [4, 8], "hidden": [16], "batchnorm": True, **sections.pop("model", {})}
    train = {
        "batch_size": 16,
        "epochs": 2,
        "optimizer": {"name": "adam", "lr": 0.003},
        "early_stopping": {"enabled": False},
        "threads": 1,
        **sections.pop("train", {}),
    }
    return {"name": "digits-audio", "data": data, "model": model, "train": train, **sections}


def test_a_run_saves_metrics_that_evaluate_reproduces_and_predicts_every_new_file(
    fsdd_subset: Any, tmp_path: Path
) -> None:
    source = fsdd_subset()
    result = batchlab.fit(_config(source), run_dir=tmp_path / "run", progress=False)
    metrics = result.test_metrics
    assert metrics is not None
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == metrics["samples"] == 20  # 0.2 of 100 recordings
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert (tmp_path / "run" / "plots" / "spectrograms.png").exists()
    again = evaluate_run(tmp_path / "run")  # the test split is rebuilt from the config and the saved state
    assert again["confusion_matrix"] == metrics["confusion_matrix"]
    assert again["loss"] == pytest.approx(metrics["loss"], rel=1e-5)

    new = fsdd_subset(speakers=("theo",), takes=range(40, 42), digits=range(3), folder="new")
    (new / "not-audio.txt").write_text("ignored")
    rows = batchlab.predict(tmp_path / "run", new, tmp_path / "out.csv")
    table = pd.read_csv(tmp_path / "out.csv", dtype={"prediction": str})
    assert rows == len(table) == 6
    assert sorted(table["file"]) == sorted(p.name for p in new.glob("*.wav"))
    probabilities = table[[f"prob_{d}" for d in range(10)]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert list(table["prediction"]) == [str(int(i)) for i in probabilities.argmax(axis=1)]


def test_a_stratified_split_holds_every_digit_in_each_split_in_proportion(fsdd_subset: Any, tmp_path: Path) -> None:
    source = fsdd_subset(takes=range(5, 15))  # 200 recordings, 20 per digit
    result = batchlab.fit(_config(source, train={"max_steps": 1}), run_dir=tmp_path / "run", progress=False)
    data = result.parts.data  # type: ignore[union-attr]
    counts = {name: Counter(getattr(data, name).y.tolist()) for name in ("train", "val", "test")}
    assert counts["test"] == dict.fromkeys(range(10), 4) and counts["val"] == dict.fromkeys(range(10), 4)
    assert counts["train"] == dict.fromkeys(range(10), 12)
    assert len(set(data.train.ids) | set(data.val.ids) | set(data.test.ids)) == 200


def test_a_group_split_keeps_every_speaker_in_one_split(fsdd_subset: Any, tmp_path: Path) -> None:
    source = fsdd_subset(speakers=("george", "jackson", "lucas", "theo"), takes=range(5, 7))
    config = _config(source, data={"split": {"val": 0.25, "test": 0.25, "by_group": True, "seed": 3}})
    result = batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    data = result.parts.data  # type: ignore[union-attr]
    speakers = {name: set(getattr(data, name).groups) for name in ("train", "val", "test")}
    assert len(speakers["test"]) == len(speakers["val"]) == 1 and len(speakers["train"]) == 2
    assert not (speakers["train"] & speakers["val"] or speakers["train"] & speakers["test"])
    assert not speakers["val"] & speakers["test"]
    assert all(name.split("_")[1] in speakers["test"] for name in data.test.ids)  # groups match the file names
    assert result.test_metrics is not None and result.test_metrics["samples"] == 20  # one speaker, 10 digits x 2


def test_fixed_seconds_crops_and_pads_every_recording_to_one_length(fsdd_subset: Any, tmp_path: Path) -> None:
    source = fsdd_subset(takes=range(5, 7))
    config = _config(source, data={"audio": {"sample_rate": 8000, "n_mels": 20, "fixed_seconds": 0.4}})
    result = batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    parts = result.parts
    assert parts is not None
    assert parts.data.train.x.lengths.unique().tolist() == [3200]  # 0.4 s at 8 kHz, shorter ones padded
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["input_spec"]
    assert spec["variable_length"] is False and spec["max_length"] == 41  # 1 + 3200 // 80 frames
    batch = next(iter(parts.train.epoch(0)))
    assert batch.lengths is None and tuple(batch.x.shape[1:]) == (41, 20)
    assert "pad_fraction" not in result.history[0]  # nothing is padded, so nothing is reported


def test_mfcc_features_have_n_mfcc_bands_with_saved_statistics(fsdd_subset: Any, tmp_path: Path) -> None:
    source = fsdd_subset(takes=range(5, 7))
    config = _config(source, data={"audio": {"sample_rate": 8000, "features": "mfcc", "n_mels": 24, "n_mfcc": 13}})
    result = batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    state = json.loads((tmp_path / "run" / "preprocess.json").read_text())
    assert state["settings"]["features"] == "mfcc" and len(state["band_mean"]) == len(state["band_std"]) == 13
    assert result.parts is not None and result.parts.data.input_spec.shape == (13,)
    batch = next(iter(result.parts.train.epoch(0)))
    assert batch.x.shape[-1] == 13
    assert result.test_metrics is not None and 0.0 <= result.test_metrics["accuracy"] <= 1.0


@pytest.mark.parametrize(
    "model",
    [
        {"name": "mlp", "hidden": [16]},
        {"name": "cnn", "channels": [4, 8], "hidden": [16], "batchnorm": True},
        {"name": "lstm", "embed": 16, "layers": 1, "bidirectional": True},
        {"name": "gru", "embed": 16, "layers": 1},
        {"name": "transformer", "embed": 16, "layers": 1, "heads": 2, "hidden": []},
    ],
    ids=lambda m: m["name"],
)
def test_each_model_family_trains_on_frames(fsdd_subset: Any, tmp_path: Path, model: dict[str, Any]) -> None:
    class Initial(Callback):
        def on_train_begin(self, state: Any) -> None:
            self.weights = {k: v.detach().clone() for k, v in self.context.module.state_dict().items()}

    initial = Initial()
    config = _config(fsdd_subset(takes=range(5, 7)), train={"max_steps": 4, "epochs": 10})
    config["model"] = model
    result = batchlab.fit(config, run_dir=tmp_path / "run", callbacks=[initial], progress=False)
    assert result.info["steps"] == 4 and result.stop_reason == "reached max_steps=4"
    assert all(np.isfinite(row["train_loss"]) for row in result.history)
    trained = load_weights(tmp_path / "run" / "model.safetensors")
    assert any(not torch.equal(initial.weights[k], trained[k]) for k in trained)
    reloaded = load_run(tmp_path / "run")
    assert type(reloaded.model) is type(result.model)  # rebuilt from the saved config for evaluate / predict


def test_early_stopping_ends_an_audio_run_and_restores_the_best_epoch(fsdd_subset: Any, tmp_path: Path) -> None:
    source = fsdd_subset(takes=range(5, 7))
    stopping = {"monitor": "val_loss", "patience": 1, "min_delta": 100.0, "restore_best": True}
    config = _config(source, train={"epochs": 10, "early_stopping": stopping})
    result = batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2]  # nothing improves by 100 after epoch 1
    assert result.best_epoch == 1 and result.info["stopped_epoch"] == 2
    restored = evaluate_run(tmp_path / "run")
    assert result.test_metrics is not None and restored["loss"] == pytest.approx(result.test_metrics["loss"], rel=1e-5)
    # the saved weights are epoch 1's: their validation loss is the one logged then, not epoch 2's
    trained = load_run(tmp_path / "run")
    assert result.parts is not None
    val = evaluate_batches(trained.model, trained.batches(result.parts.data.val).epoch(0), trained.objective)
    assert val["loss"] == pytest.approx(result.history[0]["val_loss"], rel=1e-5)
    assert val["loss"] != pytest.approx(result.history[1]["val_loss"], rel=1e-5)


def _long_recording(source: Path, target: Path, seconds: float) -> Path:
    """A recording of ``seconds`` made by repeating ``source`` (same label in the name)."""
    import soundfile as sf

    samples, rate = sf.read(str(source), dtype="float32")
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(target), np.resize(samples, round(seconds * rate)), rate)
    return target


def test_a_transformer_without_max_seconds_refuses_a_longer_held_out_recording_before_writing(
    fsdd_subset: Any, tmp_path: Path
) -> None:
    source = fsdd_subset(takes=range(5, 7))
    longest = max(p.stat().st_size for p in source.glob("*.wav"))
    val = fsdd_subset(takes=range(7, 8), folder="val")
    _long_recording(val / "3_george_7.wav", val / "3_george_7.wav", 3.0)
    assert (val / "3_george_7.wav").stat().st_size > longest
    config = _config(
        source,
        data={"split": {"val_source": str(val), "test": 0.0}, "audio": {"sample_rate": 8000, "n_mels": 20}},
        model={"name": "transformer", "embed": 16, "layers": 1, "heads": 2, "hidden": []},
        train={"early_stopping": {"enabled": False}},
    )
    with pytest.raises(ConfigError, match=r"data\.audio\.max_seconds: the val split holds a recording of 301 frames"):
        batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    config["data"]["audio"]["max_seconds"] = 1.0  # every recording cropped to 1 s: the model takes 101 frames
    result = batchlab.fit(config, run_dir=tmp_path / "run", progress=False)
    assert result.info["input_spec"]["max_length"] == 101
    long = _long_recording(val / "3_george_7.wav", tmp_path / "new" / "x.wav", 2.5)
    assert batchlab.predict(tmp_path / "run", long.parent, tmp_path / "out.csv") == 1  # cropped, not refused


@pytest.mark.slow
def test_the_shipped_spoken_digits_config_trains_on_all_of_fsdd(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)  # the config names ../shared/data relative to the repository
    overrides = ["train.max_steps=3", "train.threads=1"]
    config = REPO / "configs" / "spoken-digits.yaml"
    result = batchlab.fit(config, overrides=overrides, run_dir=tmp_path / "run", progress=False)
    assert result.parts is not None
    data = result.parts.data
    assert len(data.train) + len(data.val) + len(data.test) == 2700 and data.classes == [str(d) for d in range(10)]
    assert result.test_metrics is not None and result.test_metrics["samples"] == len(data.test)
    assert {"specaugment", "noise", "shift"} <= {step.name for step in result.config.data.augment}
    assert (tmp_path / "run" / "plots" / "spectrograms.png").exists()
