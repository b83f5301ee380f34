"""Whole studies of a tiny config (iris, one epoch): grid coverage, failures, resume, seeds, results."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.console import Console

from batchlab.config import load_config
from batchlab.errors import ConfigError
from batchlab.report.summary import report_path
from batchlab.tune.runner import run_study
from batchlab.tune.trial_config import trial_config
from tests.tune.conftest import tiny_settings

GRID = {"train.batch_size": {"choice": [8, 16]}, "model.hidden": {"choice": [[4], [8, 8]]}}


def _csv(study_dir: Path) -> list[dict[str, str]]:
    with open(study_dir / "trials.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_grid_study_runs_each_point_once_and_writes_its_results(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, GRID, method="grid")
    outcome = run_study(settings)
    assert outcome.stop == "every point of the grid (4) has a trial"
    rows = _csv(settings.study_dir)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 4
    points = {(r["train.batch_size"], r["model.hidden"]) for r in rows}
    assert points == {("8", "[4]"), ("8", "[8, 8]"), ("16", "[4]"), ("16", "[8, 8]")}

    study_dir = settings.study_dir
    best = outcome.best
    assert best is not None and best.value == max(float(r["val_accuracy"]) for r in rows)
    assert (study_dir / "best").resolve() == (study_dir / "trials" / str(best.number)).resolve()
    assert (study_dir / "best" / "run.json").is_file()
    saved = load_config(study_dir / "best_config.yaml")
    assert saved == trial_config(settings.config, best.params).model_copy(update={"name": saved.name})
    for plot in ("optimization_history", "param_importances", "slice"):
        assert (study_dir / "plots" / f"{plot}.png").stat().st_size > 1000
    record = json.loads((study_dir / "tune.json").read_text())
    assert record["status"] == "finished" and record["best"]["trial"] == best.number
    assert record["counts"] == {"COMPLETE": 4}

    console = Console(record=True, width=160)
    (study_dir / "plots" / "slice.png").unlink()
    report_path(study_dir, console)  # what `batchlab report STUDY_DIR` prints
    text = console.export_text()
    assert "study tiny-grid  status: finished" in text and "trials, best first" in text
    assert f"Best: trial {best.number}: val_accuracy {best.value:.4f}" in text
    assert "4 trials finished (4 complete, 0 pruned, 0 failed)" in text
    assert (study_dir / "plots" / "slice.png").is_file()  # redrawn


def test_failing_and_diverging_trials_are_recorded_and_the_study_finishes(tmp_path: Path) -> None:
    space = {"train.batch_size": {"choice": [16, 500]}, "train.optimizer.lr": {"choice": [0.01, 1e12]}}
    settings = tiny_settings(tmp_path, space, method="grid", overrides=["train.optimizer.name=sgd"])
    outcome = run_study(settings)
    by_point = {(r.params["train.batch_size"], r.params["train.optimizer.lr"]): r for r in outcome.rows}
    assert by_point[(16, 0.01)].state == "COMPLETE"
    assert by_point[(16, 1e12)].state == "FAIL" and "diverged" in by_point[(16, 1e12)].note
    for lr in (0.01, 1e12):
        row = by_point[(500, lr)]
        assert row.state == "FAIL" and "500 is larger than the training split" in row.note
    assert outcome.best is not None and outcome.best.params["train.batch_size"] == 16


def test_the_same_call_resumes_a_study_and_keeps_its_finished_trials(tmp_path: Path) -> None:
    space = {"train.optimizer.lr": {"log_uniform": [1e-3, 1e-1]}}
    first = run_study(tiny_settings(tmp_path, space, trials=2))
    assert not first.resumed and len(first.rows) == 2
    again = run_study(tiny_settings(tmp_path, space, trials=2))  # nothing left to do
    assert again.resumed and again.stop == "the study has its 2 trials" and len(again.rows) == 2
    more = run_study(tiny_settings(tmp_path, space, trials=4))
    assert [(r.number, r.params, r.value) for r in more.rows[:2]] == [(r.number, r.params, r.value) for r in first.rows]
    assert [r.state for r in more.rows] == ["COMPLETE"] * 4
    assert len({r.params["train.optimizer.lr"] for r in more.rows}) == 4  # resuming does not replay values


def test_a_random_study_is_reproducible_with_its_seed(tmp_path: Path) -> None:
    space = {"train.optimizer.lr": {"log_uniform": [1e-3, 1e-1]}, "train.batch_size": {"choice": [8, 16, 32]}}
    runs = [
        run_study(tiny_settings(tmp_path / name, space, trials=3, seed=seed)).rows
        for name, seed in (("a", 5), ("b", 5), ("c", 6))
    ]
    assert [(r.params, r.value) for r in runs[0]] == [(r.params, r.value) for r in runs[1]]
    assert [r.params for r in runs[0]] != [r.params for r in runs[2]]


def test_lr_scaling_sets_each_trials_rate_from_the_base_batch(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, {"train.batch_size": {"choice": [8, 32]}}, method="grid", lr_scaling="linear")
    outcome = run_study(settings)
    for row in outcome.rows:
        info = json.loads((Path(str(row.run_dir)) / "run.json").read_text())
        assert info["lr"] == pytest.approx(0.01 * row.params["train.batch_size"] / 16)
        assert info["lr_scaling"] == {"rule": "linear", "base_batch_size": 16}


def test_halving_prunes_trials_from_their_epoch_metric(tmp_path: Path) -> None:
    space = {"train.optimizer.lr": {"log_uniform": [1e-4, 1e-1]}}
    settings = tiny_settings(tmp_path, space, trials=8, prune="halving", overrides=["train.epochs=3"])
    outcome = run_study(settings)
    pruned = [r for r in outcome.rows if r.state == "PRUNED"]
    assert pruned, [(r.state, r.value) for r in outcome.rows]
    for row in pruned:
        assert row.note.startswith("pruned at epoch") and row.value is not None
        assert len(_csv_rows(Path(str(row.run_dir)) / "metrics.csv")) < 3


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_metric_the_runs_do_not_log_fails_before_any_trial(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, {"model.dropout": {"uniform": [0, 0.5]}}, trials=2, metric="val_r2")
    with pytest.raises(ConfigError, match="--metric val_r2: the runs of this config do not log it; they log"):
        run_study(settings)
    assert not (tmp_path / "study" / "trials").exists()


def test_a_study_started_with_other_settings_is_refused(tmp_path: Path) -> None:
    space = {"train.optimizer.lr": {"log_uniform": [1e-3, 1e-1]}}
    run_study(tiny_settings(tmp_path, space, trials=1))
    changed = tiny_settings(tmp_path, {"train.optimizer.lr": {"log_uniform": [1e-4, 1e-1]}}, trials=1)
    with pytest.raises(ConfigError, match="was started with other settings .*space: train.optimizer.lr.log_uniform"):
        run_study(changed)
    other_study = tiny_settings(tmp_path, space, trials=1, study_name="another")
    with pytest.raises(ConfigError, match="holds the study 'tiny-random', not 'another'"):
        run_study(other_study)


def test_no_trial_starts_after_the_timeout(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, {"model.dropout": {"uniform": [0, 0.5]}}, timeout=1e-6)
    outcome = run_study(settings)
    assert outcome.stop == "the time limit was reached" and outcome.rows == [] and outcome.best is None
    assert json.loads((settings.study_dir / "tune.json").read_text())["best"] is None
