"""Data-parallel mini-batches: every rank takes its slice of each global batch.

All ranks compute the same plan of global batches for an epoch (same data, seed and batch size), and
rank ``r`` of ``world_size`` keeps slice ``r`` of each (``torch.tensor_split``: slices differ by at
most one sample), gathered by the wrapped batches' own ``gather`` (the same device staging, padding
and transforms as on one process). So in every epoch each sample is seen exactly once across all
ranks and none twice: there is no padding. When the last global batch holds fewer samples than there
are ranks, some ranks get an empty slice for that step; the loop weighs each rank's loss by its share
of the global batch (:meth:`ShardedBatches.global_size`), so the averaged gradient equals the
single-process one. With ``drop_last`` the incomplete last global batch is dropped on every rank.

Example:
    >>> import torch
    >>> from batchlab.data.batching import MiniBatches
    >>> whole = MiniBatches(torch.zeros(10, 1), torch.arange(10), 4, seed=0)
    >>> shards = [ShardedBatches(whole, rank=r, world_size=2) for r in range(2)]
    >>> [[len(batch) for batch in s.epoch(0)] for s in shards]
    [[2, 2, 1], [2, 2, 1]]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch

from batchlab.data.batch import Batch

__all__ = ["PlannedBatches", "ShardedBatches", "shard_rows"]


class PlannedBatches(Protocol):
    """Mini-batches that can list each epoch's batches and gather any of them."""

    batch_size: int

    @property
    def num_samples(self) -> int: ...

    def __len__(self) -> int: ...

    def batches_in_epoch(self, epoch: int) -> int: ...

    def plan(self, epoch: int) -> list[torch.Tensor]: ...

    def gather(self, rows: torch.Tensor, epoch: int, index: int) -> Batch: ...


def shard_rows(rows: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s part of one global batch's row indices, ``(about len(rows) / world_size,)``."""
    return torch.tensor_split(rows, world_size)[rank]


class ShardedBatches:
    """One rank's view of mini-batches whose ``batch_size`` is the global batch.

    Args:
        batches: the global mini-batches (identical on every rank: same data, seed and batch size).
        rank: this process's rank in ``[0, world_size)``.
        world_size: number of data-parallel processes.

    ``len()`` is the global batch count, identical on every rank, so all ranks take the same number of
    optimizer steps.
    """

    def __init__(self, batches: PlannedBatches, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside [0, {world_size})")
        self.batches = batches
        self.rank = rank
        self.world_size = world_size
        self._plans: dict[int, list[torch.Tensor]] = {}

    @property
    def batch_size(self) -> int:
        """The global batch size (samples per optimizer step across all ranks)."""
        return self.batches.batch_size

    @property
    def local_batch_size(self) -> int:
        """Samples per full batch on this rank."""
        return len(shard_rows(torch.arange(self.batches.batch_size), self.rank, self.world_size))

    def __len__(self) -> int:
        return len(self.batches)

    def batches_in_epoch(self, epoch: int) -> int:
        return self.batches.batches_in_epoch(epoch)

    def _plan(self, epoch: int) -> list[torch.Tensor]:
        if epoch not in self._plans:
            self._plans = {epoch: self.batches.plan(epoch)}  # one epoch cached at a time
        return self._plans[epoch]

    def global_size(self, epoch: int, index: int) -> int:
        """Samples in global batch ``index`` of ``epoch`` (all ranks together)."""
        return len(self._plan(epoch)[index])

    def global_rows(self, epoch: int, index: int) -> torch.Tensor:
        """Row indices of global batch ``index`` of ``epoch`` (all ranks together)."""
        return self._plan(epoch)[index]

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """This rank's slice of each global batch from ``start_batch`` on."""
        plan = self._plan(epoch)
        for index in range(start_batch, len(plan)):
            rows = shard_rows(plan[index], self.rank, self.world_size)
            # Each rank's slice gets its own augmentation draws: index the transform by (batch, rank).
            yield self.batches.gather(rows, epoch, index * self.world_size + self.rank)
