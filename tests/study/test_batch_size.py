"""The batch-size sweep on a synthetic task: steps to target, batch counts, LR scaling per cell, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from batchlab.config import make_config
from batchlab.errors import ConfigError
from batchlab.study.batch_size import BatchSizeStudy, run_batch_size_study
from batchlab.study.budget import parse_budget
from batchlab.study.cell import CellSettings, cell_config
from batchlab.study.results import analyze_study
from batchlab.study.sizes import BatchSize
from batchlab.study.targets import parse_target
from tests.study.conftest import blob_config

TARGET = parse_target("val_accuracy=0.9")


@pytest.fixture(scope="module")
def sweep(blobs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Sizes 1, 4, 16 and full, linear LR scaling from batch 1, 3 epochs, 6 evaluations per epoch."""
    study_dir = tmp_path_factory.mktemp("study") / "blobs"
    study = BatchSizeStudy(
        sizes=(1, 4, 16, "full"),
        seeds=(0,),
        target=TARGET,
        settings=CellSettings(budget=parse_budget("3epochs"), lr_rule="linear", base_batch=1, evals_per_epoch=6),
    )
    cells = run_batch_size_study(make_config(blob_config(blobs)), study, study_dir)
    return study_dir, cells


def test_steps_to_target_fall_as_the_batch_grows_in_the_small_batch_range(sweep: tuple[Path, list[dict]]) -> None:
    _, cells = sweep
    analysis = analyze_study(cells, TARGET)
    steps = {r["batch_size"]: r["steps_to_target"] for r in analysis.rows}
    assert steps[1] is not None and steps[4] is not None and steps[16] is not None
    assert steps[1] > steps[4] > steps[16]


def test_full_batch_takes_one_step_per_epoch_and_batch_one_takes_n(sweep: tuple[Path, list[dict]]) -> None:
    _, cells = sweep
    by_size = {c["size"]: c for c in cells}
    n = by_size["full"]["train_samples"]
    assert by_size["full"]["batch_size"] == n
    assert by_size["full"]["steps_per_epoch"] == 1 and by_size["full"]["steps"] == 3
    assert by_size["1"]["batches_per_epoch"] == n and by_size["1"]["steps"] == 3 * n
    assert by_size["4"]["batches_per_epoch"] == math.ceil(n / 4)


def test_each_cell_records_the_linearly_scaled_learning_rate(sweep: tuple[Path, list[dict]]) -> None:
    study_dir, cells = sweep
    for cell in cells:
        run = json.loads((study_dir / "runs" / cell["name"] / "run.json").read_text())
        assert run["lr"] == pytest.approx(0.004 * cell["batch_size"] / 1)
        assert run["lr_scaling"] == {"rule": "linear", "base_batch_size": 1}


def test_sqrt_scaling_and_warmup_follow_their_formulas() -> None:
    config = make_config({"train": {"batch_size": 32, "optimizer": {"lr": 0.1}}})
    settings = CellSettings(lr_rule="sqrt", warmup=parse_budget("2epochs"), budget=parse_budget("1e4samples"))
    cell = cell_config(config, BatchSize(128), seed=3, settings=settings, train_samples=1000)
    assert cell.train.lr_scaling.rule == "sqrt" and cell.train.lr_scaling.base_batch_size == 32
    assert cell.train.schedule.warmup_steps == 16  # 2 epochs of ceil(1000/128) = 8 steps
    assert cell.train.max_steps == 79 and cell.train.epochs is None  # ceil(1e4 / 128)
    assert cell.train.seed == 3 and cell.train.batch_size == 128
    assert not cell.train.early_stopping.enabled and cell.train.checkpoint.every_epochs is None
    from batchlab.experiment.builder import lr_for_batch

    assert lr_for_batch(cell, 128) == pytest.approx(0.1 * math.sqrt(128 / 32))


def test_rerunning_skips_finished_cells_and_redoes_an_unfinished_one(
    sweep: tuple[Path, list[dict]], blobs: Path
) -> None:
    study_dir, _ = sweep
    # A run killed half-way: its run directory exists but its cell.json (the finished marker) does not.
    (study_dir / "runs" / "b4-s0" / "cell.json").unlink()
    (study_dir / "runs" / "b4-s0" / "leftover").write_text("from the killed run")
    stamps = {p.parent.name: p.stat().st_mtime_ns for p in study_dir.glob("runs/*/cell.json")}
    from rich.console import Console

    console = Console(record=True, width=200)
    study = BatchSizeStudy(
        sizes=(1, 4, 16, "full"),
        seeds=(0,),
        target=TARGET,
        settings=CellSettings(budget=parse_budget("3epochs"), lr_rule="linear", base_batch=1, evals_per_epoch=6),
    )
    cells = run_batch_size_study(make_config(blob_config(blobs)), study, study_dir, console=console)
    text = console.export_text()
    assert text.count("finished earlier, skipped") == 3
    assert "b4-s0: unfinished run found, training it again" in text
    assert not (study_dir / "runs" / "b4-s0" / "leftover").exists()
    assert len(cells) == 4
    for name, stamp in stamps.items():
        assert (study_dir / "runs" / name / "cell.json").stat().st_mtime_ns == stamp, name


def test_a_study_directory_refuses_other_settings(sweep: tuple[Path, list[dict]], blobs: Path) -> None:
    study_dir, _ = sweep
    study = BatchSizeStudy(sizes=(4,), settings=CellSettings(budget=parse_budget("5epochs")))
    with pytest.raises(ConfigError, match="holds a study with other settings.*budget"):
        run_batch_size_study(make_config(blob_config(blobs)), study, study_dir)


def test_an_unknown_target_metric_fails_before_anything_is_written(blobs: Path, tmp_path: Path) -> None:
    study = BatchSizeStudy(sizes=(4,), target=parse_target("val_r2=0.5"))
    with pytest.raises(ConfigError, match="val_r2.*available: train_loss, train_accuracy, val_loss, val_accuracy"):
        run_batch_size_study(make_config(blob_config(blobs)), study, tmp_path / "study")
    assert not (tmp_path / "study").exists()
