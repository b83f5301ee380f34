"""Mini-batches of in-memory tensors: batch size, batch count and a seeded order per epoch.

A batch is gathered in one call, ``x.index_select(0, indices)``, from contiguous tensors: no per-sample
Python, no per-sample collate. The order of epoch ``e`` depends only on ``(seed, e)``, so any epoch
(and any batch inside it) can be replayed exactly after a restart without storing iterator state.

Every kind of mini-batches (these, :class:`~batchlab.data.sequences.SequenceBatches`,
:class:`~batchlab.data.sequences.WindowBatches`, streamed ones) offers the same three operations:
``plan(epoch)`` (the row indices of each batch), ``gather(rows, epoch, index)`` (one
:class:`~batchlab.data.batch.Batch` on the device, transformed) and ``epoch(epoch, start_batch)``
(the batches in order). Data-parallel shards (:mod:`batchlab.data.sharding`) cut each planned batch
and call the same ``gather``.

Example:
    >>> import torch
    >>> batches = MiniBatches(torch.zeros(10, 3), torch.arange(10), batch_size=4, seed=0)
    >>> len(batches), [len(batch) for batch in batches.epoch(0)]
    (3, [4, 4, 2])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from batchlab.data.batch import Batch

__all__ = ["BatchTransform", "MiniBatches", "batch_count", "epoch_seed", "resolve_batch_size"]

_GATHER_BYTES = 1 << 20

BatchTransform = Callable[[Batch, int, int], Batch]
"""``transform(batch, epoch, batch_index) -> batch``, e.g. augmentation seeded by position, or audio features."""


def resolve_batch_size(batch_size: int | str, num_samples: int) -> int:
    """The batch size in samples: ``"full"`` means all ``num_samples`` (batch gradient descent).

    >>> resolve_batch_size("full", 1000), resolve_batch_size(32, 1000)
    (1000, 32)
    """
    if batch_size == "full":
        return num_samples
    if isinstance(batch_size, str):
        raise ValueError(f"a batch size in samples is an integer or 'full', got {batch_size!r}")
    return int(batch_size)


def batch_count(num_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Iterations per epoch: ``ceil(N / B)``, or ``floor(N / B)`` when the last partial batch is dropped.

    >>> batch_count(10, 4), batch_count(10, 4, drop_last=True), batch_count(10, 1), batch_count(10, 10)
    (3, 2, 10, 1)
    """
    if drop_last:
        return num_samples // batch_size
    return math.ceil(num_samples / batch_size)


def _count_batches(num_samples: int, batch_size: int, drop_last: bool, min_batch: int) -> int:
    count = batch_count(num_samples, batch_size, drop_last)
    remainder = num_samples - (count - 1) * batch_size
    if count > 1 and remainder < min_batch:
        count -= 1  # a lone last sample left out (batch normalization)
    return count


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for epoch ``epoch`` of a run seeded with ``seed`` (distinct for distinct pairs)."""
    mixed = (seed * 0x9E3779B97F4A7C15 + (epoch + 1) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    mixed ^= mixed >> 31
    return mixed & 0x7FFFFFFFFFFFFFFF


class MiniBatches:
    """Mini-batches over in-memory tensors, reshuffled from a seeded generator every epoch.

    Args:
        x: features, shape ``(samples, *feature_shape)``.
        y: targets, shape ``(samples,)``.
        batch_size: samples per batch; ``"full"`` for one batch holding every sample (batch gradient
            descent), ``1`` for stochastic gradient descent.
        shuffle: draw a fresh permutation every epoch; ``False`` keeps the stored order.
        drop_last: drop the last incomplete batch, so every batch has exactly ``batch_size`` samples.
        seed: seed of the per-epoch permutations.
        transform: applied to each batch after gathering (training augmentation).
        device: where batches are served; default the device of ``x``. Data kept on the CPU for a
            CUDA device (when it does not fit there) is gathered into pinned memory, about 1 MiB at a
            time, and copied without blocking the host.
        min_batch: a last batch with fewer samples than this is left out of the epoch (batch
            normalization needs 2); which samples that are changes from epoch to epoch.

    Iterating the object itself runs consecutive epochs (0, 1, 2, ...) like a DataLoader;
    :meth:`epoch` gives one epoch by number and can start mid-epoch.
    """

    _count_key: tuple[int, int, bool, int] | None = None  # the inputs of the cached batch count
    _count = 0

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int | str,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        transform: BatchTransform | None = None,
        device: torch.device | str | None = None,
        min_batch: int = 1,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        self.x = x.contiguous()
        self.y = y.contiguous()
        self.device = torch.device(device) if device is not None else self.x.device
        self.batch_size = resolve_batch_size(batch_size, len(x))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.shuffle = shuffle
        self.drop_last = drop_last and self.batch_size < len(x)
        self.seed = seed
        self.transform = transform
        self.min_batch = min_batch
        self._next_epoch = 0

    @property
    def num_samples(self) -> int:
        """Samples per epoch before dropping, ``N``."""
        return len(self.x)

    @property
    def samples_per_epoch(self) -> int:
        """Samples actually served per epoch (``N`` minus what is dropped)."""
        return min(self.num_samples, len(self) * self.batch_size)

    def __len__(self) -> int:
        """Batch count: iterations per epoch."""
        # Asked after every step (a schedule may change it): kept until one of its inputs changes.
        key = (self.num_samples, self.batch_size, self.drop_last, self.min_batch)
        if key != self._count_key:
            self._count_key, self._count = key, _count_batches(*key)
        return self._count

    def batches_in_epoch(self, epoch: int) -> int:
        """Batch count of ``epoch`` (the same for every epoch)."""
        return len(self)

    def permutation(self, epoch: int) -> torch.Tensor:
        """The order of samples in ``epoch``, shape ``(samples,)`` int64; identity when not shuffling."""
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        return torch.randperm(self.num_samples, generator=generator)

    def plan(self, epoch: int) -> list[torch.Tensor]:
        """Row indices of each batch of ``epoch``, ``len(self)`` tensors of ``(b,)`` int64."""
        order = self.permutation(epoch)
        size = self.batch_size
        return [order[i * size : (i + 1) * size] for i in range(len(self))]

    def gather(self, rows: torch.Tensor, epoch: int, index: int) -> Batch:
        """The batch of rows ``rows`` on :attr:`device`, transformed as batch ``index`` of ``epoch``."""
        rows = rows.to(self.x.device)
        batch = Batch(self._gather(self.x, rows), self._gather(self.y, rows))
        return self.transform(batch, epoch, index) if self.transform is not None and len(rows) else batch

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Yield batches ``start_batch, ..., len(self) - 1`` of ``epoch``.

        Shapes are ``(b, *feature_shape)`` and ``(b,)`` with ``b = batch_size`` except, without
        ``drop_last``, the last batch, which holds the remainder.
        """
        if self.batch_size >= self.num_samples and self.transform is None:
            # One batch holding everything: order does not change the gradient, so skip the gather.
            if start_batch == 0:
                yield Batch(self.x.to(self.device), self.y.to(self.device))
            return
        order = self.permutation(epoch).to(self.x.device)
        size = self.batch_size
        per_gather = self.batches_per_gather
        for first in range(start_batch, len(self), per_gather):
            last = min(first + per_gather, len(self))
            rows = order[first * size : last * size]
            x_rows, y_rows = self._gather(self.x, rows), self._gather(self.y, rows)
            for index in range(first, last):
                start = (index - first) * size
                batch = Batch(x_rows[start : start + size], y_rows[start : start + size])
                yield self.transform(batch, epoch, index) if self.transform is not None else batch

    def _gather(self, source: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``source[rows]`` on :attr:`device` (staged through pinned memory when it is another one)."""
        if source.device == self.device:
            return source.index_select(0, rows)
        pinned = self.device.type == "cuda" and source.device.type == "cpu"
        staged = torch.empty((len(rows), *source.shape[1:]), dtype=source.dtype, pin_memory=pinned)
        torch.index_select(source, 0, rows, out=staged)
        return staged.to(self.device, non_blocking=pinned)

    @property
    def batches_per_gather(self) -> int:
        """Consecutive batches gathered by one ``index_select`` (about 1 MiB of features at a time).

        Each batch is then a contiguous slice of the gathered rows, so small batches do not pay a
        gather (and its kernel launch) each; the order and contents are the same as gathering batch by
        batch.
        """
        row_bytes = self.x[:1].numel() * self.x.element_size()
        return max(1, _GATHER_BYTES // max(1, self.batch_size * row_bytes))

    def __iter__(self) -> Iterator[Batch]:
        epoch = self._next_epoch
        self._next_epoch += 1
        return self.epoch(epoch)

    def __repr__(self) -> str:
        return (
            f"MiniBatches(samples={self.num_samples}, batch_size={self.batch_size}, batches={len(self)}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})"
        )
