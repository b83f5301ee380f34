"""Several worker processes on the default journal storage finish exactly N trials, each grid point once."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from batchlab.tune.runner import run_study
from batchlab.tune.storage import open_storage
from tests.tune.conftest import tiny_settings


def test_four_workers_finish_exactly_n_trials_without_repeating_a_grid_point(tmp_path: Path) -> None:
    space = {"train.batch_size": {"choice": [8, 16]}, "train.optimizer.lr": {"choice": [0.003, 0.01, 0.03, 0.1]}}
    settings = tiny_settings(tmp_path, space, method="grid", trials=6, workers=4)
    outcome = run_study(settings)
    assert outcome.stop == "the study has its 6 trials"
    assert [r.state for r in outcome.rows] == ["COMPLETE"] * 6
    points = [(r.params["train.batch_size"], r.params["train.optimizer.lr"]) for r in outcome.rows]
    assert len(set(points)) == 6
    workers = {r.worker for r in outcome.rows}
    assert len(workers) >= 2, workers  # the trials really ran in several processes

    study = optuna.load_study(study_name=settings.study_name, storage=open_storage(None, settings.study_dir).storage)
    assert len(study.trials) == 6  # no extra trial was started and dropped
    assert json.loads((settings.study_dir / "tune.json").read_text())["counts"] == {"COMPLETE": 6}
