"""Device, seeding and the mini-batches of a run, for every kind of data (tables, images, text, audio, corpora).

The kind of a split decides the batches: tensors give :class:`MiniBatches`, variable-length samples
:class:`SequenceBatches` (padded, bucketed by length), a token stream :class:`WindowBatches` (language
model windows) and a split on disk :class:`StreamBatches`. Training batches hold the *effective* batch
(``batch_size x accumulate`` samples: one optimizer step each); the loop cuts them into micro-batches.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from batchlab.config import Config, token_budget
from batchlab.data.augment import build_augmenter
from batchlab.data.batch import Batch
from batchlab.data.batching import BatchTransform, MiniBatches, batch_count, epoch_seed
from batchlab.data.prepared import SequenceSplit, TokenStream
from batchlab.data.sequences import SequenceBatches, WindowBatches
from batchlab.data.stream.batches import StreamBatches
from batchlab.data.stream.prepare import StreamedSplit
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec

if TYPE_CHECKING:
    from batchlab.data.pipeline import PreparedData, Split
    from batchlab.train.distributed import DistributedInfo
    from batchlab.train.loop import Batches

__all__ = [
    "EVAL_BATCH_IMAGES",
    "EVAL_BATCH_TOKENS",
    "EVAL_BATCH_VECTORS",
    "effective_batch_size",
    "eval_batches",
    "resolve_device",
    "seed_everything",
    "train_batches",
]

EVAL_BATCH_VECTORS = 4096
EVAL_BATCH_IMAGES = 512
EVAL_BATCH_TOKENS = 32768
EVAL_BATCH_RECORDINGS = 256
DEVICE_DATA_FRACTION = 0.5
"""In-memory data goes to a CUDA device up front when it needs less than this share of its free memory."""


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy and Python's generators (weights init and dropout draw from torch's)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def resolve_device(name: str, workers: DistributedInfo | None = None) -> torch.device:
    """The device a run trains on: ``auto`` picks CUDA when available, else the CPU.

    Under data parallelism on GPUs each worker takes the GPU of its local rank.

    Raises:
        ConfigError: an unavailable device.
    """
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} is not available on this machine; use auto or cpu")
    elif name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device: 'mps' is not available on this machine; use auto or cpu")
    else:
        device = torch.device(name)
    if workers is not None and workers.enabled and device.type == "cuda":
        return torch.device("cuda", workers.local_rank)
    return device


def effective_batch_size(config: Config) -> int | str:
    """Samples (or a token budget) per optimizer step: ``batch_size x accumulate``; ``"full"`` stays."""
    size, accumulate = config.train.batch_size, config.train.accumulate
    if size == "full" or accumulate == 1:
        return size
    budget = token_budget(size)
    if budget is not None:
        return f"{budget * accumulate}tokens"
    return int(size) * accumulate


def check_batch_size(config: Config, train_samples: int) -> None:
    """A numeric batch size must not exceed the training split (``full`` always fits)."""
    size = config.train.batch_size
    if isinstance(size, int) and size > train_samples:
        raise ConfigError(
            f"train.batch_size: {size} is larger than the training split ({train_samples} samples); "
            f'use at most {train_samples}, or "full" for batch gradient descent'
        )
    step = effective_batch_size(config)
    if config.train.drop_last and isinstance(step, int) and batch_count(train_samples, step, True) == 0:
        raise ConfigError(
            f"train.drop_last: true leaves no batch: the effective batch ({step} samples) "
            f"is larger than the training split ({train_samples})"
        )


def train_batches(
    config: Config, data: PreparedData, device: torch.device, *, min_batch: int = 1, transform: Any = None
) -> Batches:
    """Shuffled training batches of the effective batch, with augmentation applied per batch.

    Args:
        config: the run's config (batch size, accumulation, drop_last, seed, bucketing, augmentation).
        data: the prepared data; its training split's kind picks the batches.
        device: where batches are served (the model's device).
        min_batch: a last batch with fewer samples is left out (2 for batch normalization).
        transform: a batch transform to use instead of the configured augmentation (audio features).
    """
    split = data.train
    train = config.train
    size = effective_batch_size(config)
    if transform is None:
        transform = image_augmentation(config)
    if isinstance(split, TokenStream):
        return WindowBatches(
            split.ids, config.data.context, size, drop_last=train.drop_last, seed=train.seed, device=device
        )
    if isinstance(split, SequenceSplit):
        return SequenceBatches(
            split.x,
            split.y,
            size,
            bucket=train.bucket,
            drop_last=train.drop_last,
            seed=train.seed,
            pad_value=data.input_spec.pad_id if data.input_spec.kind == "tokens" else 0.0,
            transform=transform,
            device=device,
            min_batch=min_batch,
        )
    if token_budget(size) is not None:
        raise ConfigError(
            f"train.batch_size: a token budget ({train.batch_size!r}) applies to text; this data has "
            "fixed-size samples: give a number of samples"
        )
    if isinstance(split, StreamedSplit):
        stream = config.data.stream
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            raise ConfigError("data.stream: streaming is not supported with data-parallel training (--nproc)")
        return StreamBatches(
            split.rows,
            split.decode,
            size,
            shuffle=stream.shuffle,
            drop_last=train.drop_last,
            seed=train.seed,
            buffer_batches=stream.buffer_batches,
            prefetch=stream.prefetch,
            transform=transform,
            device=device,
            min_batch=min_batch,
        )
    x, y = _placed(split, device)
    return MiniBatches(
        x,
        y,
        size,
        shuffle=True,
        drop_last=train.drop_last,
        seed=train.seed,
        transform=transform,
        device=device,
        min_batch=min_batch,
    )


def image_augmentation(config: Config) -> BatchTransform | None:
    """The configured image augmentation as a batch transform, reseeded by batch position (or ``None``)."""
    steps = [step for step in config.data.augment if step.name in ("hflip", "crop", "rotate", "jitter")]
    if not steps:
        return None
    augmenter = build_augmenter(steps, config.train.seed)
    if augmenter is None:
        return None
    seed = config.train.seed

    def transform(batch: Batch, epoch: int, index: int) -> Batch:
        # Reseeding by position makes the augmentation of any batch reproducible after a resume.
        augmenter.generator.manual_seed(epoch_seed(seed + 7919 * (index + 1), epoch))
        return Batch(augmenter(batch.x), batch.y, batch.lengths)

    return transform


def eval_batches(
    split: Any,
    spec: InputSpec,
    device: torch.device,
    *,
    ordered: bool = False,
    transform: Any = None,
) -> Batches:
    """Unshuffled batches for evaluation, as large as memory comfortably allows.

    Args:
        split: the split to evaluate: tensors (:class:`Split`, or new samples), a :class:`SequenceSplit`,
            a :class:`TokenStream` or a streamed split.
        spec: what one sample looks like (a language model's ``max_length`` is its context).
        device: where batches go.
        ordered: keep samples in stored order (predictions written row by row); otherwise variable-length
            samples are sorted by length for less padding (metrics do not depend on the order).
        transform: a batch transform (audio features).
    """
    if isinstance(split, TokenStream):
        context = int(spec.max_length or 128)
        return WindowBatches(split.ids, context, max(1, EVAL_BATCH_TOKENS // context), shuffle=False, device=device)
    if isinstance(split, SequenceSplit):
        size: int | str = f"{EVAL_BATCH_TOKENS}tokens" if spec.kind == "tokens" else EVAL_BATCH_RECORDINGS
        return SequenceBatches(
            split.x,
            split.y,
            size,
            bucket=not ordered,
            shuffle=False,
            pad_value=spec.pad_id if spec.kind == "tokens" else 0.0,
            transform=transform,
            device=device,
        )
    size = max(1, min(len(split), EVAL_BATCH_IMAGES if spec.kind == "image" else EVAL_BATCH_VECTORS))
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
