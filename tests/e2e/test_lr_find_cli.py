"""End to end: ``batchlab lr-find`` (one process and ``--nproc 2``) and ``batchlab study lr-vs-batch``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from batchlab.config import load_config

pytestmark = pytest.mark.slow

DIGITS = {
    "name": "digits",
    "data": {"source": "digits", "split": {"val": 0.15, "test": 0.15}},
    "model": {"name": "mlp", "hidden": [32]},
    "train": {
        "batch_size": 32,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "schedule": {"name": "cosine", "warmup_steps": 10},
    },
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "digits.yaml"
    path.write_text(yaml.safe_dump(DIGITS))
    return path


def test_lr_find_writes_its_folder_applies_and_agrees_across_workers(
    batchlab_cli, config: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    done = batchlab_cli("lr-find", str(config), "--steps", "40", "--min", "1e-4", "--apply")
    assert done.code == 0, done.stderr
    out = done.stdout
    assert "Range test: " in out and "of 40 rates from 0.0001 to 10 (spaced exponentially)" in out
    assert "Note: train.schedule (cosine, 10 warmup steps) is ignored" in out
    assert "steepest descent of the smoothed loss" in out and "minimum of the smoothed loss / 10" in out
    assert "<- suggested (--rule min10)" in out
    (folder,) = (tmp_path / "runs").glob("digits-lr-find-*")
    assert {p.name for p in folder.rglob("*") if p.is_file()} == {
        "lr_find.csv",
        "lr_find.json",
        "lr_find.png",
        "lr_find_config.yaml",
    }
    record = json.loads((folder / "lr_find.json").read_text())
    applied = load_config(folder / "lr_find_config.yaml")
    assert applied.train.optimizer.lr == float(f"{record['suggestions']['min10']:.3g}")
    assert f"Applied: {folder.relative_to(tmp_path) / 'lr_find_config.yaml'} is the config with" in out

    # Two data-parallel workers: one curve (the global batch's mean loss), one agreed suggestion, and the
    # curve of one process up to floating-point summation order.
    two = batchlab_cli(
        "lr-find", str(config), "--steps", "40", "--min", "1e-4", "--nproc", "2", "--run-dir", "two", "--no-plots"
    )
    assert two.code == 0, two.stderr
    assert two.stdout.count("Range test: ") == 1  # rank 0 prints
    shared = json.loads((tmp_path / "two" / "lr_find.json").read_text())
    assert shared["info"]["world_size"] == 2 and shared["info"]["workers_agreed"] is True
    assert shared["info"]["effective_batch"] == 32
    points = min(len(shared["curve"]["loss"]), len(record["curve"]["loss"])) - 1
    np.testing.assert_allclose(shared["curve"]["loss"][:points], record["curve"]["loss"][:points], rtol=1e-3)


def test_study_lr_vs_batch_fits_the_exponent(batchlab_cli, config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["study", "lr-vs-batch", str(config), "--sizes", "8,32,128", "--seeds", "2", "--steps", "30"]
    args += ["--min", "1e-4", "--study-dir", "study"]
    done = batchlab_cli(*args)
    assert done.code == 0, done.stderr
    out = done.stdout
    assert "Study: range tests at 3 batch sizes x 2 seeds = 6 cells" in out
    assert "minimum of the smoothed loss / 10: lr ∝ B^" in out and "<- fitted below" in out
    assert "- Over batch sizes 8 to 128 the suggested rate (minimum of the smoothed loss / 10) grows as B^" in out
    study = tmp_path / "study"
    rows = list(csv.DictReader((study / "results.csv").open()))
    assert sorted((r["size"], r["seed"]) for r in rows) == sorted(
        (s, d) for s in ("8", "32", "128") for d in ("0", "1")
    )
    results = json.loads((study / "results.json").read_text())
    assert results["rule"] == "min10" and results["fits"]["min10"]["fit"]["points"] == 6
    assert (study / "plots" / "lr_vs_batch.png").exists()
