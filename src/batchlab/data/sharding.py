"""Data-parallel mini-batches: every rank takes its slice of each global batch.

All ranks draw the same per-epoch permutation (same seed), cut it into the same global batches of
``batch_size`` samples, and rank ``r`` of ``world_size`` keeps slice ``r`` of each (``torch.tensor_split``:
slices differ by at most one sample). So in every epoch each sample is seen exactly once across all
ranks and none twice: there is no padding. When the last global batch holds fewer samples than there
are ranks, some ranks get an empty slice for that step; the loss is scaled by the global batch (see
``batchlab.train.objective.Objective.loss``) so the averaged gradient equals the single-process one.
With ``drop_last`` the incomplete last global batch is dropped on every rank.

Example:
    >>> import torch
    >>> from batchlab.data.batching import MiniBatches
    >>> whole = MiniBatches(torch.zeros(10, 1), torch.arange(10), 4, seed=0)
    >>> shards = [ShardedBatches(whole, rank=r, world_size=2) for r in range(2)]
    >>> [[len(yb) for _, yb in s.epoch(0)] for s in shards]
    [[2, 2, 1], [2, 2, 1]]
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from batchlab.data.batching import MiniBatches

__all__ = ["ShardedBatches", "shard_rows"]


def shard_rows(rows: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s part of one global batch's row indices, ``(about len(rows) / world_size,)``."""
    return torch.tensor_split(rows, world_size)[rank]


class ShardedBatches:
    """One rank's view of :class:`MiniBatches` whose ``batch_size`` is the global batch.

    Args:
        batches: the global mini-batches (identical on every rank: same data, seed and batch size).
        rank: this process's rank in ``[0, world_size)``.
        world_size: number of data-parallel processes.

    ``len()`` is the global batch count, identical on every rank, so all ranks take the same number of
    optimizer steps.
    """

    def __init__(self, batches: MiniBatches, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside [0, {world_size})")
        self.batches = batches
        self.rank = rank
        self.world_size = world_size

    @property
    def batch_size(self) -> int:
        """The global batch size (samples per optimizer step across all ranks)."""
        return self.batches.batch_size

    @property
    def local_batch_size(self) -> int:
        """Samples per full batch on this rank."""
        return len(shard_rows(torch.arange(self.batches.batch_size), self.rank, self.world_size))

    @property
    def num_samples(self) -> int:
        return self.batches.num_samples

    @property
    def drop_last(self) -> bool:
        return self.batches.drop_last

    def __len__(self) -> int:
        return len(self.batches)

    def global_size(self, index: int) -> int:
        """Samples in global batch ``index`` (all ranks together)."""
        size = self.batches.batch_size
        return min(size, self.batches.num_samples - index * size)

    def loss_weight(self, index: int, local_size: int) -> float:
        """Factor on this rank's mean loss so that DDP's average of gradients is the global batch mean.

        DDP averages the ranks' gradients with equal weights; a rank holding ``n`` of the ``N`` samples of
        an uneven last batch must count ``world_size * n / N`` times (1 when the batch splits evenly).
        """
        return self.world_size * local_size / self.global_size(index)

    def global_rows(self, epoch: int, index: int) -> torch.Tensor:
        """Row indices of global batch ``index`` of ``epoch`` (all ranks together)."""
        size = self.batches.batch_size
        return self.batches.permutation(epoch)[index * size : (index + 1) * size]

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's ``(x, y)`` slice of each global batch from ``start_batch`` on."""
        order = self.batches.permutation(epoch).to(self.batches.x.device)
        size = self.batches.batch_size
        for index in range(start_batch, len(self)):
            rows = shard_rows(order[index * size : (index + 1) * size], self.rank, self.world_size)
            xb = self.batches.x.index_select(0, rows)
            if self.batches.transform is not None and len(rows):
                xb = self.batches.transform(xb, epoch, index * self.world_size + self.rank)
            yield xb, self.batches.y.index_select(0, rows)
