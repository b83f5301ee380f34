"""The benchmark's work: generated data, the MLP, its training FLOPs, thread settings.

The throughput work is the issue's: scikit-learn ``make_classification(n_samples=60000, n_features=64,
n_informative=32, n_classes=10, random_state=0)``, float32, standardized, split 90% train / 10%
validation (the held-out part is only used by systems that validate: batchlab's default callbacks);
an MLP 64→256→256→10 with ReLU, cross-entropy, SGD lr 0.05 momentum 0.9.

The time-to-accuracy work is scikit-learn's digits (1,797 8×8 images as 64 features), split 80/20
stratified with seed 0, standardized with training statistics; an MLP 64→128→10, Adam 1e-3, batch 32.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CACHE",
    "THREADS",
    "Arrays",
    "digits_data",
    "job_environment",
    "job_threads",
    "make_mlp",
    "scaled_data",
    "set_threads",
    "train_flops_per_sample",
    "workload_data",
]


def job_threads() -> int:
    """Intra-op threads of every job (torch, MKL, OpenMP, OpenBLAS): 2, or ``python -m benchmarks.run --threads``."""
    return int(os.environ.get("BATCHLAB_BENCH_THREADS", "2"))


THREADS = job_threads()
"""The threads of this process's jobs (read when the module is imported)."""
CACHE = Path(os.environ.get("BATCHLAB_BENCH_CACHE", "/tmp/batchlab-bench"))
"""Where generated data files are kept between jobs (large; never inside the repository)."""

N_SAMPLES = 60_000
N_FEATURES = 64
N_CLASSES = 10
HIDDEN = (256, 256)
LR = 0.05
MOMENTUM = 0.9
VAL_FRACTION = 0.1

DIGITS_HIDDEN = (128,)
DIGITS_LR = 1e-3
DIGITS_BATCH = 32
DIGITS_TARGET = 0.97


@dataclass(frozen=True)
class Arrays:
    """A train/validation pair as arrays and as the ``.npz`` files batchlab reads.

    Attributes:
        x_train: ``(n_train, features)`` float32.
        y_train: ``(n_train,)`` int64 class indices.
        x_val: ``(n_val, features)`` float32.
        y_val: ``(n_val,)`` int64.
        train_file: ``.npz`` with arrays ``x`` and ``y`` (the training split).
        val_file: ``.npz`` with the validation split.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    train_file: Path
    val_file: Path


def job_environment(threads: int | None = None) -> dict[str, str]:
    """Environment of a job process: the same thread count for every BLAS and OpenMP runtime."""
    threads = threads or job_threads()
    env = dict(os.environ)
    env["BATCHLAB_BENCH_THREADS"] = str(threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[name] = str(threads)
    env["KERAS_BACKEND"] = "torch"
    env["PYTHONWARNINGS"] = "ignore"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def set_threads(threads: int | None = None) -> None:
    """Set torch's intra-op threads (the environment covers the BLAS libraries)."""
    import torch

    torch.set_num_threads(threads or job_threads())


def _save(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, x=x, y=y)
    os.replace(tmp, path)


def _load(train_file: Path, val_file: Path) -> Arrays:
    with np.load(train_file) as train, np.load(val_file) as val:
        return Arrays(train["x"], train["y"], val["x"], val["y"], train_file, val_file)


def workload_data(scale: int = 1) -> Arrays:
    """The throughput data, generated once and cached; ``scale`` repeats it (60k × scale samples).

    Scaled copies add Gaussian noise (std 0.1, seeded per copy) to each repetition, so no two rows are
    equal; the per-sample cost of training does not depend on the values.
    """
    folder = CACHE / f"workload-{N_SAMPLES * scale}"
    train_file, val_file = folder / "train.npz", folder / "val.npz"
    if train_file.exists() and val_file.exists():
        return _load(train_file, val_file)
    if scale == 1:
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=32, n_classes=N_CLASSES, random_state=0
        )
        x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
        y = y.astype(np.int64)
    else:
        base = workload_data(1)
        x0 = np.concatenate([base.x_train, base.x_val])
        y0 = np.concatenate([base.y_train, base.y_val])
        x = np.empty((len(x0) * scale, x0.shape[1]), dtype=np.float32)
        for copy in range(scale):
            noise = np.random.default_rng(copy).standard_normal(x0.shape, dtype=np.float32)
            x[copy * len(x0) : (copy + 1) * len(x0)] = x0 + np.float32(0.1) * noise
        y = np.tile(y0, scale)
    order = np.random.default_rng(0).permutation(len(x))
    n_val = int(len(x) * VAL_FRACTION)
    val_rows, train_rows = order[:n_val], order[n_val:]
    _save(val_file, x[val_rows], y[val_rows])
    _save(train_file, x[train_rows], y[train_rows])
    return _load(train_file, val_file)


def scaled_data(n_samples: int) -> Arrays:
    """:func:`workload_data` with ``n_samples`` in all (a multiple of 60,000)."""
    if n_samples % N_SAMPLES:
        raise ValueError(f"n_samples must be a multiple of {N_SAMPLES}, got {n_samples}")
    return workload_data(n_samples // N_SAMPLES)


def digits_data() -> Arrays:
    """Digits as 64 standardized features, split 80/20 (stratified, seed 0); cached."""
    folder = CACHE / "digits"
    train_file, val_file = folder / "train.npz", folder / "val.npz"
    if train_file.exists() and val_file.exists():
        return _load(train_file, val_file)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_val, y_train, y_val = train_test_split(
        digits.data, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    _save(train_file, ((x_train - mean) / std).astype(np.float32), y_train.astype(np.int64))
    _save(val_file, ((x_val - mean) / std).astype(np.float32), y_val.astype(np.int64))
    return _load(train_file, val_file)


def make_mlp(widths: tuple[int, ...]) -> object:
    """``Linear → ReLU → ... → Linear`` over ``widths`` (input, hidden..., output), torch's default init."""
    from torch import nn

    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def train_flops_per_sample(widths: tuple[int, ...]) -> int:
    """Matrix-multiply FLOPs to train on one sample: forward, weight gradients, input gradients.

    Each ``a → b`` layer costs ``2ab`` forward and ``2ab`` for its weight gradient; every layer but the
    first also costs ``2ab`` for the gradient of its input. Elementwise work (bias, ReLU, softmax,
    optimizer) is left out: it is small next to the products and not what the limit measures.

    >>> train_flops_per_sample((64, 256, 256, 10))
    474112
    """
    layers = list(itertools.pairwise(widths))
    total = sum(4 * a * b for a, b in layers)
    return total + sum(2 * a * b for a, b in layers[1:])
