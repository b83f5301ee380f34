"""Build the parts of a run from a config and prepared data: device, objective, batches, optimizer, schedule."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from batchlab.config import Config
from batchlab.data.augment import build_augmenter
from batchlab.data.batching import MiniBatches, batch_count, epoch_seed
from batchlab.data.stream_data import StreamedSplit
from batchlab.data.streaming import StreamBatches
from batchlab.errors import ConfigError
from batchlab.train.objective import Objective, make_objective

if TYPE_CHECKING:
    from batchlab.data.pipeline import PreparedData, Split

__all__ = [
    "EVAL_BATCH_IMAGES",
    "EVAL_BATCH_VECTORS",
    "check_batch_size",
    "eval_batches",
    "objective_for",
    "resolve_device",
    "seed_everything",
    "train_batches",
]

EVAL_BATCH_VECTORS = 4096
EVAL_BATCH_IMAGES = 512
DEVICE_DATA_FRACTION = 0.5
"""In-memory data goes to a CUDA device up front when it needs less than this share of its free memory."""


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy and Python's generators (weights init and dropout draw from torch's)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; an unavailable device is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} is not available on this machine; use auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device: 'mps' is not available on this machine; use auto or cpu")
    return torch.device(name)


def check_batch_size(config: Config, train_samples: int) -> None:
    """A numeric batch size must not exceed the training split (``full`` always fits)."""
    size = config.train.batch_size
    if size != "full" and size > train_samples:
        raise ConfigError(
            f"train.batch_size: {size} is larger than the training split ({train_samples} samples); "
            f'use at most {train_samples}, or "full" for batch gradient descent'
        )
    if config.train.drop_last and size != "full" and batch_count(train_samples, size, True) == 0:
        raise ConfigError("train.drop_last: true leaves no batch at this batch size")


def objective_for(config: Config, data: PreparedData) -> Objective:
    """The task's loss and metrics; regression targets are un-standardized with training statistics."""
    mean, std = _target_scale(data)
    return make_objective(
        "regression" if data.task == "regression" else "classification",
        data.num_outputs,
        config.train.loss,
        label_smoothing=config.train.label_smoothing,
        target_mean=mean,
        target_std=std,
    )


def _target_scale(data: PreparedData) -> tuple[float, float]:
    pre: Any = data.preprocessor
    mean = getattr(pre, "target_mean_", None)
    std = getattr(pre, "target_std_", None)
    return (float(mean) if mean is not None else 0.0, float(std) if std is not None else 1.0)


def train_batches(config: Config, split: Split, device: torch.device) -> MiniBatches:
    """Shuffled training batches, with the configured augmentation applied per batch.

    A streamed split (``data.stream.enabled``) gives :class:`StreamBatches` that read from disk; an
    in-memory one gives :class:`MiniBatches` over tensors placed by :func:`_placed`.
    """
    transform = None
    augmenter = build_augmenter(config.data.augment, config.train.seed) if config.data.augment else None
    if augmenter is not None:
        seed = config.train.seed

        def transform(xb: torch.Tensor, epoch: int, index: int) -> torch.Tensor:
            # Reseeding by position makes the augmentation of any batch reproducible after a resume.
            augmenter.generator.manual_seed(epoch_seed(seed + 7919 * (index + 1), epoch))
            return augmenter(xb)

    if isinstance(split, StreamedSplit):
        stream = config.data.stream
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            raise ConfigError("data.stream: streaming is not supported with data-parallel training (--nproc)")
        return StreamBatches(
            split.rows,
            split.decode,
            config.train.batch_size,
            shuffle=stream.shuffle,
            drop_last=config.train.drop_last,
            seed=config.train.seed,
            buffer_batches=stream.buffer_batches,
            prefetch=stream.prefetch,
            transform=transform,
            device=device,
        )
    x, y = _placed(split, device)
    return MiniBatches(
        x,
        y,
        config.train.batch_size,
        shuffle=True,
        drop_last=config.train.drop_last,
        seed=config.train.seed,
        transform=transform,
        device=device,
    )


def eval_batches(split: Split, device: torch.device, is_image: bool) -> MiniBatches:
    """Unshuffled batches for evaluation, as large as memory comfortably allows."""
    size = max(1, min(len(split), EVAL_BATCH_IMAGES if is_image else EVAL_BATCH_VECTORS))
    if isinstance(split, StreamedSplit):
        return StreamBatches(split.rows, split.decode, size, shuffle=False, device=device)
    x, y = _placed(split, device)
    return MiniBatches(x, y, size, shuffle=False, device=device)


def _placed(split: Split, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The split's tensors on ``device`` when they fit there, else where they are.

    Data is moved to a CUDA device once, up front, when it takes less than half of the device's free
    memory (the rest is left to the model, its gradients and activations); otherwise it stays in host
    memory and each batch is gathered there and copied from pinned memory (see :class:`MiniBatches`).
    """
    if device.type != "cuda":
        return split.x.to(device), split.y.to(device)
    free, _ = torch.cuda.mem_get_info(device)
    size = split.x.element_size() * split.x.nelement() + split.y.element_size() * split.y.nelement()
    if size < DEVICE_DATA_FRACTION * free:
        return split.x.to(device), split.y.to(device)
    return split.x, split.y
