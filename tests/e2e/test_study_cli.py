"""End to end: ``batchlab study batch-size | noise-scale | max-batch`` and ``batchlab report STUDY_DIR``,
including a study killed with SIGKILL and resumed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.slow


@pytest.fixture
def blobs_config(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = np.array([[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]])[y] + rng.normal(0.0, 0.8, (300, 3))
    np.savez(tmp_path / "blobs.npz", x=x.astype(np.float32), y=y.astype(np.int64))
    config = {
        "data": {"source": "blobs.npz", "split": {"val": 0.2, "test": 0.2}},
        "model": {"name": "mlp", "hidden": [8]},
        "train": {"batch_size": 4, "epochs": 2, "optimizer": {"name": "sgd", "lr": 0.02, "momentum": 0.0}},
    }
    path = tmp_path / "blobs.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_sweep_noise_scale_and_report(batchlab_cli, blobs_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    common = ["--budget", "2epochs", "--lr-scaling", "sqrt", "--study-dir", "study"]
    done = batchlab_cli(
        "study", "batch-size", str(blobs_config), "--sizes", "2^2..2^4,full", "--target", "val_accuracy=0.9", *common
    )
    assert done.code == 0, done.stderr
    assert "4 batch sizes x 1 seed = 4 cells" in done.stdout
    assert "to target" in done.stdout and "Fastest to val_accuracy >= 0.9" in done.stdout
    study = tmp_path / "study"
    cells = {p.parent.name: json.loads(p.read_text()) for p in study.glob("runs/*/cell.json")}
    assert sorted(cells) == ["b16-s0", "b4-s0", "b8-s0", "bfull-s0"]
    assert cells["b16-s0"]["lr"] == pytest.approx(0.02 * 2)  # sqrt(16 / 4)
    assert cells["bfull-s0"]["steps"] == 2  # one step per epoch
    assert json.loads((study / "study.json").read_text())["command"].startswith("batchlab study batch-size")

    done = batchlab_cli("study", "noise-scale", str(blobs_config), "--every-steps", "2", *common)
    assert done.code == 0, done.stderr
    assert "Noise scale: B_simple ≈" in done.stdout
    noise = json.loads((study / "noise_scale.json").read_text())
    assert noise["b_small"] == 4 and noise["b_big"] == 16 and len(noise["measurements"]) >= 10
    header = next(csv.reader((study / "noise_scale" / "metrics.csv").open()))
    assert "noise_scale" in header

    done = batchlab_cli("report", "study")
    assert done.code == 0, done.stderr
    assert "ratio B_simple / B_crit" in done.stdout or "B_simple" in done.stdout
    for name in ("results.csv", "summary.csv", "results.json", "plots/steps_to_target.png", "plots/noise_scale.png"):
        assert (study / name).exists(), name


def test_a_killed_study_resumes_without_redoing_finished_cells(blobs_config: Path, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "batchlab", "study", "batch-size", str(blobs_config), "--sizes", "1,2"]
    args += ["--budget", "1epochs", "--study-dir", "study"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    study = tmp_path / "study"
    process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (study / "runs" / "b2-s0").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second_was_running = not (study / "runs" / "b2-s0" / "cell.json").exists()
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = study / "runs" / "b1-s0" / "cell.json"
    assert first.exists()
    stamp = first.stat().st_mtime_ns

    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "b1-s0: finished earlier, skipped" in done.stdout
    if second_was_running:
        assert "b2-s0: unfinished run found, training it again" in done.stdout
    assert first.stat().st_mtime_ns == stamp
    assert (study / "runs" / "b2-s0" / "cell.json").exists()


def test_max_batch_proposes_micro_batch_and_accumulation(batchlab_cli, blobs_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["study", "max-batch", str(blobs_config), "--memory", "64GB", "--effective-batch", "360"]
    done = batchlab_cli(*args, "--verify-steps", "1")
    assert done.code == 0, done.stderr
    assert "Largest micro-batch within" in done.stdout and "180 samples" in done.stdout
    assert "--set train.batch_size=180 --set train.accumulate=2" in done.stdout
    assert "Verified with real steps" in done.stdout
    assert not list(tmp_path.glob("*/max_batch.json"))  # without --study-dir nothing is written


def test_max_batch_keeps_its_result_in_a_study_directory(batchlab_cli, blobs_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["study", "max-batch", str(blobs_config), "--memory", "64GB", "--effective-batch", "360"]
    done = batchlab_cli(*args, "--verify-steps", "0", "--study-dir", "mb")
    assert done.code == 0, done.stderr
    assert "Result: mb/max_batch.json" in done.stdout
    kept = json.loads((tmp_path / "mb" / "max_batch.json").read_text())
    assert kept["result"]["max_micro_batch"] == 180 and kept["result"]["plan"]["accumulate"] == 2
    assert json.loads((tmp_path / "mb" / "study.json").read_text())["kind"] == "max-batch"
    report = batchlab_cli("report", "mb")
    assert report.code == 0, report.stderr
    assert "max-batch study of 'blobs'" in report.stdout
    assert "180 samples; for an effective batch of 360: micro-batch 180 x accumulate 2." in report.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "0,8"], "batchlab: error: --sizes: batch sizes must be positive"),
        (["--target", "val_r2=0.5"], "batchlab: error: --target: 'val_r2' is not a metric of this data"),
        (["--budget", "3 parsecs"], "batchlab: error: --budget: expected a number followed by epochs"),
        (["--lr-scaling", "lineer"], "batchlab: error: --lr-scaling: unknown rule 'lineer'; did you mean \"linear\"?"),
        (["--seeds", "two"], "batchlab: error: --seeds: expected a count such as 3"),
    ],
)
def test_mistakes_are_one_line_errors_that_leave_nothing(
    blobs_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from batchlab.cli import app

    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["study", "batch-size", str(blobs_config), "--study-dir", "study", *args])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert not (tmp_path / "study").exists()


def test_schedule_cells_beside_fixed_sizes(batchlab_cli, blobs_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = batchlab_cli(
        "study", "batch-size", str(blobs_config), "--sizes", "4,16,ramp,adaptive", "--target", "val_accuracy=0.9",
        "--budget", "3epochs", "--lr-scaling", "sqrt", "--evals-per-epoch", "6", "--study-dir", "study",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    study = tmp_path / "study"
    cells = {p.parent.name: json.loads(p.read_text()) for p in study.glob("runs/*/cell.json")}
    assert sorted(cells) == ["b16-s0", "b4-s0", "badaptive4-16-s0", "bramp4-16-s0"]
    ramp = cells["bramp4-16-s0"]
    assert ramp["schedule"] == "ramp" and ramp["final_batch"] == 16 and ramp["batch_changes"][0]["size"] == 4
    assert ramp["samples"] == 3 * ramp["epoch_samples"]  # every sample once per epoch whatever the sizes
    # Evaluated on a clock of samples, as often as the fixed sizes: a row each time another sixth of an
    # epoch is passed, whatever the batch size by then.
    every = ramp["epoch_samples"] // 6
    marks = [int(r["samples"]) // every for r in ramp["curve"]]
    assert marks == list(range(1, 19))
    rows = list(csv.DictReader((study / "results.csv").open()))
    assert {r["size"] for r in rows} == {"4", "16", "ramp4-16", "adaptive4-16"}
    assert any(line.startswith("- Schedule ramp4-16") for line in done.stdout.splitlines())
    assert (study / "plots" / "schedules.png").exists()
