"""``batchlab study noise-scale`` in a directory of its own: the run is the study's one cell, so the report
tabulates it (results.csv, summary.csv) and writes every measurement (noise_scale.csv)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from batchlab.config import make_config
from batchlab.report.study_summary import report_batch_size_study
from batchlab.study.cell import CellSettings
from batchlab.study.noise_run import NoiseSettings, noise_cell, run_noise_scale_study
from batchlab.study.targets import parse_target
from tests.study.conftest import blob_config


@pytest.fixture(scope="module")
def noise_study(blobs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    study_dir = tmp_path_factory.mktemp("noise") / "study"
    config = make_config(blob_config(blobs, batch_size=4))
    result = run_noise_scale_study(
        config,
        study_dir,
        noise=NoiseSettings(every_steps=3, micro_batches=4),
        settings=CellSettings(evals_per_epoch=3),
        target=parse_target("val_accuracy=0.8"),
    )
    console = Console(record=True, width=400)
    report_batch_size_study(study_dir, console)
    return study_dir, result, console.export_text()


def test_the_run_is_reported_as_the_one_finished_cell(noise_study: tuple[Path, dict, str]) -> None:
    study_dir, result, text = noise_study
    assert "noise-scale study of 'blobs': 1 finished run at batch 4, 180 training samples" in text
    rows = list(csv.DictReader((study_dir / "results.csv").open()))
    assert len(rows) == 1
    row = rows[0]
    assert (row["size"], row["batch_size"], row["seed"]) == ("4", "4", "0")
    assert int(row["batches_per_epoch"]) == 45 and int(row["steps"]) == 90  # ceil(180 / 4) per epoch, 2 epochs
    assert float(row["final"]) == pytest.approx(result["final"]["val_accuracy"])
    summary = list(csv.DictReader((study_dir / "summary.csv").open()))
    assert [(s["batch_size"], s["seeds"]) for s in summary] == [("4", "1")]
    assert json.loads((study_dir / "results.json").read_text())["cells"][0]["steps"] == 90


def test_every_measurement_is_written_with_both_ratios(noise_study: tuple[Path, dict, str]) -> None:
    study_dir, result, _ = noise_study
    rows = list(csv.DictReader((study_dir / "noise_scale.csv").open()))
    measurements = result["measurements"]
    assert len(rows) == len(measurements) == 30  # every 3 of 90 steps
    for row, measured in zip(rows, measurements, strict=True):
        assert float(row["step"]) == measured["step"]
        assert float(row["ratio_of_this_measurement"]) == pytest.approx(measured["trace"] / measured["grad_sq"])
        assert float(row["b_simple_ratio_of_averages"]) == pytest.approx(measured["noise_scale"])


def test_the_cell_is_kept_in_the_result_and_a_rerun_keeps_it(noise_study: tuple[Path, dict, str], blobs: Path) -> None:
    study_dir, result, _ = noise_study
    cell = noise_cell(result)
    assert cell is not None and cell["status"] == "finished" and cell["curve"] == result["curve"]
    again = run_noise_scale_study(
        make_config(blob_config(blobs, batch_size=4)),
        study_dir,
        noise=NoiseSettings(every_steps=3, micro_batches=4),
        settings=CellSettings(evals_per_epoch=3),
    )
    assert again == json.loads((study_dir / "noise_scale.json").read_text()) and again["cell"] == result["cell"]


def test_an_estimate_written_without_its_cell_is_measured_again(
    noise_study: tuple[Path, dict, str], blobs: Path, tmp_path: Path
) -> None:
    study_dir, result, _ = noise_study
    copy = tmp_path / "study"
    shutil.copytree(study_dir, copy)
    old = {k: v for k, v in result.items() if k != "cell"}  # as written before runs were recorded as cells
    (copy / "noise_scale.json").write_text(json.dumps(old))
    assert noise_cell(old) is None
    again = run_noise_scale_study(
        make_config(blob_config(blobs, batch_size=4)),
        copy,
        noise=NoiseSettings(every_steps=3, micro_batches=4),
        settings=CellSettings(evals_per_epoch=3),
    )
    assert noise_cell(again) is not None
    assert json.loads((copy / "noise_scale.json").read_text())["cell"]["steps"] == 90


def test_a_noise_scale_run_beside_a_max_batch_result_reports_both(blobs: Path, tmp_path: Path) -> None:
    from batchlab.study.max_batch import AccumulationPlan, MaxBatchResult, write_max_batch

    config = make_config(blob_config(blobs, batch_size=4))
    found = MaxBatchResult(2**30, 9 * 2**27, 180, [], plan=AccumulationPlan(90, 2, 180, True), train_samples=180)
    write_max_batch(tmp_path / "study", config, found)
    run_noise_scale_study(config, tmp_path / "study", noise=NoiseSettings(every_steps=5, micro_batches=2))
    assert json.loads((tmp_path / "study" / "study.json").read_text())["kind"] == "noise-scale"
    console = Console(record=True, width=400)
    report_batch_size_study(tmp_path / "study", console)
    text = console.export_text()
    assert "1 finished run at batch 4" in text
    assert "Largest micro-batch within 1,152 MiB on cpu: 180 samples; for an effective batch of 180: " in text
