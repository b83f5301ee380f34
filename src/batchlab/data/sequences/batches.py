"""Mini-batches of variable-length samples: padding with lengths, length bucketing, token budgets.

Samples of different lengths are padded to the longest in their batch, so a batch of one long and
thirty-one short texts costs thirty-two long ones. **Length bucketing** forms batches from samples of
similar length: each epoch draws a fresh permutation, cuts it into pools of ``pool_batches`` batches,
sorts each pool by length, cuts the pool into batches and finally shuffles the order of all batches.
Every sample is still served once per epoch, batches still differ from epoch to epoch, and the model
no longer meets its batches sorted by length. The plan of an epoch depends only on ``(seed, epoch)``,
so training resumes mid-epoch exactly, and data-parallel ranks agree on it.

The batch size is a number of samples, ``"full"``, or a **token budget** (``"4096tokens"``): then
each batch holds as many samples as fit in the budget when padded, ``samples x longest <= budget``
(a single sample longer than the budget gets a batch of its own), the unit in which language
batches are usually counted. With a budget the number of batches can change slightly from epoch to
epoch (:meth:`SequenceBatches.batches_in_epoch`).

Example:
    >>> import torch
    >>> from batchlab.data.sequences.ragged import Ragged
    >>> texts = Ragged.from_sequences([torch.ones(n, dtype=torch.long) for n in (2, 9, 3, 8, 2, 9)])
    >>> batches = SequenceBatches(texts, torch.zeros(6, dtype=torch.long), 2, seed=0)
    >>> sorted(batch.lengths.tolist() for batch in batches.epoch(0))
    [[2, 2], [3, 8], [9, 9]]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch

from batchlab.config import token_budget
from batchlab.data.batch import Batch
from batchlab.data.batching import BatchTransform, epoch_seed
from batchlab.data.sequences.ragged import Ragged

__all__ = ["SequenceBatches", "plan_batches"]

POOL_BATCHES = 50
"""Batches per sorted pool: large enough to find similar lengths, small enough to keep batches random."""


def plan_batches(
    lengths: torch.Tensor,
    order: torch.Tensor,
    *,
    batch_size: int | None = None,
    budget: int | None = None,
    bucket: bool = True,
    pool_batches: int = POOL_BATCHES,
) -> list[torch.Tensor]:
    """Cut ``order`` into batches, by sample count or by a padded-token budget, bucketing by length.

    A pure function of its inputs (no randomness): the caller shuffles ``order`` and the batches.

    Args:
        lengths: ``(samples,)`` length of every sample, in steps.
        order: ``(n,)`` the samples of the epoch, in the order drawn.
        batch_size: samples per batch (exactly one of ``batch_size`` and ``budget``).
        budget: most padded steps per batch, ``samples x longest``.
        bucket: sort each pool of ``pool_batches`` batches by length before cutting it.
        pool_batches: batches per pool.

    Returns:
        The batches, each ``(b,)`` int64 sample indices; only the last one can hold fewer than
        ``batch_size`` samples.

    >>> plan_batches(torch.tensor([5, 1, 4, 2]), torch.arange(4), batch_size=2)
    [tensor([1, 3]), tensor([2, 0])]
    >>> [b.tolist() for b in plan_batches(torch.tensor([5, 1, 4, 2]), torch.arange(4), budget=6)]
    [[1, 3], [2], [0]]
    """
    if (batch_size is None) == (budget is None):
        raise ValueError("give exactly one of batch_size and budget")
    if bucket:
        mean = float(lengths[order].float().mean()) if len(order) else 1.0
        per_batch = batch_size if batch_size is not None else max(1, int(budget or 1) // max(1, round(mean)))
        pool = per_batch * pool_batches
        order = (
            torch.cat([chunk[torch.argsort(lengths[chunk], stable=True)] for chunk in torch.split(order, pool)])
            if len(order)
            else order
        )
    if batch_size is not None:
        return list(torch.split(order, batch_size))
    return _fill_budget(lengths[order].tolist(), order, int(budget or 0))


def _fill_budget(step_counts: list[int], order: torch.Tensor, budget: int) -> list[torch.Tensor]:
    """Greedy batches along ``order`` whose padded size ``samples x longest`` stays within ``budget``."""
    cuts, count, longest = [0], 0, 0
    for i, length in enumerate(step_counts):
        wider = max(longest, length)
        if count and (count + 1) * wider > budget:
            cuts.append(i)
            count, wider = 0, length
        count, longest = count + 1, wider
    cuts.append(len(step_counts))
    return [order[a:b] for a, b in itertools.pairwise(cuts) if b > a]


class SequenceBatches:
    """Padded mini-batches of variable-length samples, bucketed by length.

    Args:
        x: the samples (token ids, waveforms or feature frames), stored end to end.
        y: targets, ``(samples,)``.
        batch_size: samples per batch, ``"full"``, or a token budget such as ``"4096tokens"``.
        bucket: batch samples of similar length (see the module); ``False`` batches in drawn order.
        shuffle: a fresh order every epoch; ``False`` serves samples in stored order (with
            ``bucket``, sorted by length inside each pool: for evaluation, where order is irrelevant).
        drop_last: with a batch size in samples, drop the last incomplete batch.
        seed: seed of the per-epoch orders.
        pad_value: value of padding steps (the pad token id, 0.0 for audio).
        max_length: keep at most this many steps of each sample (longer ones are cut).
        transform: applied to each batch on :attr:`device` (augmentation, audio features).
        device: where batches are served.
        min_batch: a last batch with fewer samples than this is left out (batch normalization).
        pool_batches: batches per sorted pool.
    """

    def __init__(
        self,
        x: Ragged,
        y: torch.Tensor,
        batch_size: int | str,
        *,
        bucket: bool = True,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        pad_value: float = 0,
        max_length: int | None = None,
        transform: BatchTransform | None = None,
        device: torch.device | str | None = None,
        min_batch: int = 1,
        pool_batches: int = POOL_BATCHES,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if len(x) == 0:
            raise ValueError("no samples to batch")
        self.x = x
        self.y = y
        self.budget = token_budget(batch_size)
        count = None if self.budget is not None else (len(x) if batch_size == "full" else int(batch_size))
        if count is not None and count < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self._count = count
        self.bucket = bucket
        self.shuffle = shuffle
        self.drop_last = drop_last and count is not None and count < len(x)
        self.seed = seed
        self.pad_value = pad_value
        self.max_length = max_length
        self.transform = transform
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.min_batch = min_batch
        self.pool_batches = pool_batches
        lengths = x.lengths
        self.lengths = lengths.clamp(max=max_length) if max_length is not None else lengths
        self._plans: dict[int, list[torch.Tensor]] = {}

    @property
    def num_samples(self) -> int:
        """Samples per epoch before dropping, ``N``."""
        return len(self.x)

    @property
    def batch_size(self) -> int:
        """Samples per batch; with a token budget, the mean over epoch 0's batches (rounded)."""
        if self._count is not None:
            return self._count
        return max(1, round(self.num_samples / max(1, len(self))))

    def __len__(self) -> int:
        """Batches in epoch 0 (every epoch when the batch size is in samples)."""
        return self.batches_in_epoch(0)

    def batches_in_epoch(self, epoch: int) -> int:
        """Batches in ``epoch``."""
        return len(self.plan(epoch))

    def plan(self, epoch: int) -> list[torch.Tensor]:
        """Sample indices of each batch of ``epoch`` (computed once per epoch and kept)."""
        if epoch not in self._plans:
            if len(self._plans) > 4:
                self._plans.clear()
            self._plans[epoch] = self._make_plan(epoch)
        return self._plans[epoch]

    def _make_plan(self, epoch: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        order = (
            torch.randperm(self.num_samples, generator=generator) if self.shuffle else torch.arange(self.num_samples)
        )
        batches = plan_batches(
            self.lengths,
            order,
            batch_size=self._count,
            budget=self.budget,
            bucket=self.bucket,
            pool_batches=self.pool_batches,
        )
        if self._count is not None and self.drop_last and len(batches[-1]) < self._count:
            batches.pop()
        if len(batches) > 1 and len(batches[-1]) < self.min_batch:
            batches.pop()
        if self.shuffle and self.bucket:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def gather(self, rows: torch.Tensor, epoch: int, index: int) -> Batch:
        """Samples ``rows`` padded to their longest, on :attr:`device`, transformed as batch ``index``."""
        x, lengths = self.x.pad(rows, self.pad_value, self.max_length)
        pin = self.device.type == "cuda"
        batch = Batch(x, self.y[rows], lengths)
        if pin:
            batch = Batch(x.pin_memory(), batch.y.pin_memory(), lengths.pin_memory())
        batch = batch.to(self.device, non_blocking=pin)
        return self.transform(batch, epoch, index) if self.transform is not None and len(rows) else batch

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Yield batches ``start_batch, ...`` of ``epoch``."""
        plan = self.plan(epoch)
        for index in range(start_batch, len(plan)):
            yield self.gather(plan[index], epoch, index)

    def padding(self, epoch: int) -> tuple[int, int]:
        """``(valid steps, padded steps)`` over all batches of ``epoch`` (reads no data)."""
        valid = padded = 0
        for rows in self.plan(epoch):
            lengths = self.lengths[rows]
            valid += int(lengths.sum())
            padded += len(rows) * int(lengths.max())
        return valid, padded

    def __repr__(self) -> str:
        size = f"{self.budget}tokens" if self.budget is not None else str(self._count)
        return (
            f"SequenceBatches(samples={self.num_samples}, batch_size={size}, batches={len(self)}, "
            f"bucket={self.bucket}, shuffle={self.shuffle}, seed={self.seed})"
        )
