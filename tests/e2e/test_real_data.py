"""End to end on the real datasets in ../shared/data, with the configs shipped in configs/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _train(batchlab_cli, config: str, run_dir: Path, *sets: str) -> dict:  # type: ignore[no-untyped-def]
    args = ["train", f"configs/{config}", "--run-dir", str(run_dir), "-q"]
    for item in sets:
        args += ["--set", item]
    done = batchlab_cli(*args, cwd=REPO)  # the configs name ../shared/data relative to the repository
    assert done.code == 0, done.stderr
    assert "Test: " in done.stdout
    return json.loads((run_dir / "test_metrics.json").read_text())


def test_adult_csv_with_categories_and_missing_values_reaches_84_percent(
    shared_data: Path,
    batchlab_cli,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    metrics = _train(batchlab_cli, "adult.yaml", tmp_path / "run")
    assert metrics["accuracy"] >= 0.84
    state = json.loads((tmp_path / "run" / "preprocess.json").read_text())
    text = json.dumps(state)
    assert "workclass" in text and "Private" in text  # one-hot categories learned from the training split


def test_mnist_idx_with_cnn_and_augmentation_reaches_97_percent(
    shared_data: Path,
    batchlab_cli,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    metrics = _train(batchlab_cli, "mnist-cnn.yaml", tmp_path / "run", "train.epochs=4")
    assert metrics["samples"] == 2000  # the held-out 20% of 10,000
    assert metrics["accuracy"] >= 0.97


def test_wine_quality_regression_reports_r2(shared_data: Path, batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    metrics = _train(batchlab_cli, "wine-quality.yaml", tmp_path / "run")
    assert {"mse", "mae", "r2"} <= set(metrics)
    assert metrics["r2"] > 0.25  # a linear model gets about 0.35 on this data
    assert 0.2 < metrics["mae"] < 1.0  # in quality points, not standardized units


def test_housing_regression_with_a_categorical_column(shared_data: Path, batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    metrics = _train(batchlab_cli, "housing.yaml", tmp_path / "run", "train.epochs=20")
    assert metrics["r2"] > 0.7
    assert 20_000 < metrics["mae"] < 60_000  # dollars


def test_evaluate_on_a_separate_labelled_file(shared_data: Path, batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    _train(batchlab_cli, "wine-quality.yaml", tmp_path / "run", "train.epochs=20")
    frame = pd.read_csv(shared_data / "wine-quality" / "winequality-red.csv", sep=";")
    frame.head(300).to_csv(tmp_path / "some.csv", sep=";", index=False)
    done = batchlab_cli("evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "some.csv"), "--json")
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["samples"] == 300
