"""A small synthetic classification task for studies: two Gaussian blobs in 4 dimensions (.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 samples (180 for training), two classes separated well enough for 95% accuracy."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    centers = np.array([[-1.0, -1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    x = centers[y] + rng.normal(0.0, 0.8, (300, 4))
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64))
    return path


def blob_config(path: Path, **train: object) -> dict[str, object]:
    """An MLP on the blobs with plain SGD set for batch 1 (small steps: the small-batch regime)."""
    return {
        "name": "blobs",
        "data": {"source": str(path), "split": {"val": 0.2, "test": 0.2, "seed": 0}},
        "model": {"name": "mlp", "hidden": [8]},
        "train": {
            "batch_size": 1,
            "epochs": 2,
            "optimizer": {"name": "sgd", "lr": 0.004, "momentum": 0.0},
            "threads": 1,
            **train,
        },
    }
