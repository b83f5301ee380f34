"""Finished runs and studies for the HTML report tests: a digits run, a batch-size study of hand-made cells
whose steps to target follow S = 20 + 2000 / B (B_crit 100), and a small grid search on iris."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

N = 1000
SIZES = [4, 16, 64, 256, 1000]
SEEDS = [0, 1]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of an MLP on the built-in digits (2 epochs, about a second)."""
    from batchlab.api import fit

    run_dir = tmp_path_factory.mktemp("html") / "digits-run"
    config = {
        "name": "digits",
        "data": {"source": "digits"},
        "model": {"name": "mlp", "hidden": [32]},
        "train": {"batch_size": 64, "epochs": 2, "threads": 1, "optimizer": {"name": "adam", "lr": 0.01}},
    }
    fit(config, run_dir=run_dir, progress=False, plots=False)
    return run_dir


def study_cell(size: int, seed: int) -> dict[str, Any]:
    """A finished hand-made cell whose steps to val_accuracy 0.99 follow S = 20 + 2,000 / B (B_crit 100)."""
    steps_to_target = round((20 + 2000 / size) * (1 + 0.03 * seed))
    per_epoch = -(-N // size)
    total = per_epoch * 10
    curve = [
        {
            "epoch": step // per_epoch,
            "step": step,
            "samples": step * size,
            "val_accuracy": 0.99 if step >= steps_to_target else 0.5 + 0.4 * step / steps_to_target,
            "seconds": step * 0.002,
            "train_seconds": step * 0.001 * (1 + size / 100),
        }
        for step in range(per_epoch, total + 1, per_epoch)
    ]
    return {
        "name": f"b{'full' if size == N else size}-s{seed}",
        "size": "full" if size == N else str(size),
        "batch_size": size,
        "effective_batch": size,
        "seed": seed,
        "status": "finished",
        "lr": 0.01 * size / 16,
        "train_samples": N,
        "batches_per_epoch": per_epoch,
        "steps_per_epoch": per_epoch,
        "steps": total,
        "samples": total * size,
        "epochs": total * size / N,
        "train_seconds": curve[-1]["train_seconds"],
        "final": {"train_accuracy": 0.995, "val_accuracy": 0.99 - 0.001 * seed, "train_loss": 0.02, "val_loss": 0.05},
        "curve": curve,
        "memory": {"peak_rss": 300 * 2**20 + size * 2**14, "rss_growth": size * 2**14, "cuda_peak": None},
    }


@pytest.fixture(scope="session")
def handmade_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch-size study directory of finished hand-made cells (5 sizes x 2 seeds, target accuracy 0.95)."""
    from batchlab.study.directory import StudyDirectory

    directory = StudyDirectory(tmp_path_factory.mktemp("html") / "study")
    directory.runs.mkdir(parents=True)
    directory.write(
        {
            "kind": "batch-size",
            "name": "fake<script>",  # a name with markup: the page must escape it
            "train_samples": N,
            "sizes": ["4", "16", "64", "256", "full"],
            "seeds": SEEDS,
            "target": {"metric": "val_accuracy", "value": 0.95, "mode": "max"},
        }
    )
    for size in SIZES:
        for seed in SEEDS:
            cell = study_cell(size, seed)
            directory.run_dir(cell["name"]).mkdir()
            directory.write_cell(cell["name"], cell)
    return directory.path


@pytest.fixture(scope="session")
def grid_tune_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished grid search on iris (2 x 2 x 2 = 8 one-epoch trials) in its own study directory."""
    from batchlab.config import make_config
    from batchlab.tune.runner import run_study
    from batchlab.tune.settings import make_settings
    from batchlab.tune.space import parse_space

    root = tmp_path_factory.mktemp("html")
    config = make_config(
        {
            "name": "iris",
            "data": {"source": "iris"},
            "model": {"hidden": [8]},
            "train": {"batch_size": 16, "epochs": 1, "optimizer": {"name": "adam", "lr": 0.01}, "threads": 1},
        }
    )
    space = {
        "train.batch_size": {"choice": [8, 16]},
        "model.hidden": {"choice": [[4], [8, 8]]},
        "train.optimizer.lr": {"choice": [0.003, 0.03]},
    }
    settings = make_settings(config, parse_space(space), method="grid", study_dir=root / "tune")
    run_study(settings)
    return settings.study_dir
