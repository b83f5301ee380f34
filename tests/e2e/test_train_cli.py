"""End to end on built-in data: train, evaluate, predict, report, datasets; determinism."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    import subprocess
    import sys

    run_dir = tmp_path_factory.mktemp("digits") / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchlab",
            "train",
            str(REPO / "configs" / "digits.yaml"),
            "--run-dir",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=run_dir.parent,
    )
    assert done.returncode == 0, done.stderr
    return run_dir, done.stdout


def test_digits_demo_reaches_95_percent_and_writes_the_run_directory(digits_run: tuple[Path, str]) -> None:
    run_dir, stdout = digits_run
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    assert metrics["accuracy"] >= 0.95
    assert {"f1_macro", "precision_macro", "recall_macro", "confusion_matrix"} <= set(metrics)
    for name in (
        "config.yaml",
        "metrics.csv",
        "model.safetensors",
        "preprocess.json",
        "run.json",
        "plots/learning_curves.png",
    ):
        assert (run_dir / name).is_file(), name
    assert f"Run directory: {run_dir}" in stdout
    assert "Test: accuracy" in stdout
    assert "batches per epoch" in stdout  # the batch count is reported at the start
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert len(rows) >= 3
    assert {
        "epoch",
        "step",
        "samples",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "lr",
        "seconds",
    } <= set(rows[0])
    info = json.loads((run_dir / "run.json").read_text())
    assert info["batches_per_epoch"] == -(-info["train_samples"] // 32)
    assert (run_dir / "plots" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_digits_demo_stops_early(digits_run: tuple[Path, str]) -> None:
    run_dir, stdout = digits_run
    info = json.loads((run_dir / "run.json").read_text())
    assert info["stop_reason"].startswith("early stopping"), info["stop_reason"]
    assert "Stopped: early stopping" in stdout
    assert info["epochs_run"] < 60


def test_evaluate_reproduces_the_test_metrics(digits_run: tuple[Path, str], batchlab_cli) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = digits_run
    done = batchlab_cli("evaluate", str(run_dir), "--json")
    assert done.code == 0, done.stderr
    metrics = json.loads(done.stdout)
    saved = json.loads((run_dir / "test_metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(saved["accuracy"])
    assert metrics["confusion_matrix"] == saved["confusion_matrix"]


def test_predict_writes_one_row_per_input(digits_run: tuple[Path, str], batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from sklearn.datasets import load_digits

    run_dir, _ = digits_run
    digits = load_digits()
    np.save(tmp_path / "new.npy", digits.images[:50].astype("float32"))
    done = batchlab_cli("predict", str(run_dir), str(tmp_path / "new.npy"), "-o", str(tmp_path / "out.csv"))
    assert done.code == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == 50
    assert set(rows[0]) == {"prediction", *(f"prob_{c}" for c in range(10))}
    hits = sum(int(r["prediction"]) == t for r, t in zip(rows, digits.target[:50], strict=True))
    assert hits >= 45


def test_report_prints_the_table_and_redraws_the_plot(digits_run: tuple[Path, str], batchlab_cli) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = digits_run
    (run_dir / "plots" / "learning_curves.png").unlink()
    done = batchlab_cli("report", str(run_dir))
    assert done.code == 0, done.stderr
    assert "val_accuracy" in done.stdout and "Test:" in done.stdout
    assert (run_dir / "plots" / "learning_curves.png").exists()


def test_datasets_lists_the_builtins(batchlab_cli) -> None:  # type: ignore[no-untyped-def]
    done = batchlab_cli("datasets")
    assert done.code == 0
    for name in ("digits", "iris", "wine", "breast_cancer", "diabetes"):
        assert name in done.stdout


def test_same_config_and_seed_give_identical_metrics(batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def run(name: str) -> list[dict[str, str]]:
        done = batchlab_cli(
            "train",
            str(REPO / "configs" / "digits.yaml"),
            "--run-dir",
            str(tmp_path / name),
            "--set",
            "train.epochs=4",
            "--quiet",
        )
        assert done.code == 0, done.stderr
        rows = list(csv.DictReader((tmp_path / name / "metrics.csv").open()))
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # wall time differs, nothing else

    assert run("a") == run("b")


def test_resume_continues_a_run_from_its_last_checkpoint(batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = REPO / "configs" / "digits.yaml"
    full = batchlab_cli(
        "train",
        str(config),
        "--run-dir",
        str(tmp_path / "full"),
        "--set",
        "train.epochs=6",
        "--set",
        "train.early_stopping.enabled=false",
        "--set",
        "train.schedule.name=constant",
        "-q",
    )
    part = batchlab_cli(
        "train",
        str(config),
        "--run-dir",
        str(tmp_path / "part"),
        "--set",
        "train.epochs=6",
        "--set",
        "train.early_stopping.enabled=false",
        "--set",
        "train.schedule.name=constant",
        "--set",
        "train.max_steps=120",
        "-q",
    )
    assert full.code == 0 and part.code == 0, part.stderr
    # lift the step limit in the saved config, then resume
    cfg_path = tmp_path / "part" / "config.yaml"
    cfg_path.write_text(cfg_path.read_text().replace("max_steps: 120", "max_steps: null"))
    resumed = batchlab_cli("train", "--resume", str(tmp_path / "part"), "-q")
    assert resumed.code == 0, resumed.stderr
    a = [r for r in csv.DictReader((tmp_path / "full" / "metrics.csv").open())]
    b = [r for r in csv.DictReader((tmp_path / "part" / "metrics.csv").open())]
    assert [r["val_loss"] for r in a] == [r["val_loss"] for r in b]


def test_a_divergence_is_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from batchlab.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(
        "data: {source: iris}\nmodel: {hidden: [8]}\ntrain: {epochs: 3, optimizer: {name: sgd, lr: 1.0e+8}}\n"
    )
    done = CliRunner().invoke(app, ["train", "c.yaml", "--run-dir", "run"])
    assert done.exit_code == 2
    assert (done.stdout + done.stderr).count("training diverged: the loss became") == 1
    assert done.stderr.startswith("batchlab: error: training diverged")


def test_version_names_batchlab_and_torch(tmp_path: Path) -> None:
    import re

    import torch
    from typer.testing import CliRunner

    from batchlab.cli import app

    done = CliRunner().invoke(app, ["--version"])
    assert done.exit_code == 0
    found = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert found is not None
    version = found.group(1)
    assert done.stdout.strip() == f"batchlab {version} (torch {torch.__version__})"


def test_a_full_batch_is_one_batch_per_epoch(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from batchlab.cli import app

    (tmp_path / "c.yaml").write_text("data: {source: iris}\nmodel: {hidden: [8]}\ntrain: {epochs: 1}\n")
    done = CliRunner().invoke(
        app, ["train", str(tmp_path / "c.yaml"), "--run-dir", str(tmp_path / "run"), "--set", "train.batch_size=full"]
    )
    assert done.exit_code == 0, done.output
    assert "Batches: full batch -> 1 batch per epoch" in done.stdout
