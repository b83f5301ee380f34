"""Mini-batches whose size may change between optimizer steps, with exact epochs.

An epoch is the order of its samples, the concatenation of the wrapped batches' ``plan(epoch)`` (a seeded
permutation, or length buckets in shuffled order for sequences). :class:`ScheduledBatches` cuts that
order into consecutive batches whose sizes are read from a :class:`BatchSizer` at the moment each batch
is taken: a policy (``batchlab.train.batch_schedule``) changes ``sizer.size`` after a step and the next
batch has the new size. So every sample is still served exactly once per epoch, in a fresh order every
epoch, whatever the sizes; a batch that would leave fewer than ``min_batch`` samples at the end of the
epoch takes them too (batch normalization needs 2).

Where the running epoch stands is ``sizer.offset`` (samples of the epoch already served) and
``sizer.sizes`` (the size of each batch served in it). Both are saved in checkpoints with the policy's
state, so a run resumed mid-epoch serves the very batches the uninterrupted run would have.

Under data parallelism every rank holds the same sizer state and takes slice ``rank`` of each global
batch (as :class:`~batchlab.data.sharding.ShardedBatches` does for fixed sizes).

Example:
    >>> import torch
    >>> from batchlab.data.batching import MiniBatches
    >>> sizer = BatchSizer(2)
    >>> batches = ScheduledBatches(MiniBatches(torch.zeros(10, 1), torch.arange(10), 2, seed=0), sizer)
    >>> sizes = []
    >>> for batch in batches.epoch(0):
    ...     sizes.append(len(batch))
    ...     sizer.size *= 2  # a policy growing the batch after every step
    >>> sizes
    [2, 4, 4]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from batchlab.data.batch import Batch
from batchlab.data.sharding import PlannedBatches, shard_rows

__all__ = ["BatchSizer", "ScheduledBatches"]


class BatchSizer:
    """The size of the next batch and the position in the running epoch, shared by data and policy.

    Attributes:
        size: samples (across all ranks) of the next batch; a policy changes it between steps.
        epoch: the epoch ``offset`` and ``sizes`` refer to.
        offset: samples of ``epoch`` served so far.
        sizes: the size of each batch served in ``epoch`` so far.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"batch size must be positive, got {size}")
        self.size = size
        self.epoch = 0
        self.offset = 0
        self.sizes: list[int] = []

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.offset, self.sizes = epoch, 0, []

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "epoch": self.epoch, "offset": self.offset, "sizes": list(self.sizes)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = int(state["size"])
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self.sizes = [int(s) for s in state["sizes"]]


class ScheduledBatches:
    """Batches of the sizes a :class:`BatchSizer` gives, cut from each epoch's sample order.

    Args:
        batches: the mini-batches whose ``plan`` gives the epoch's order and whose ``gather`` builds a
            batch (:class:`~batchlab.data.batching.MiniBatches`, sequence or window batches).
        sizer: the shared size and epoch position.
        min_batch: the smallest batch allowed (2 with batch normalization): a remainder below it joins
            the batch before it.
        drop_last: end the epoch instead of serving a last batch smaller than the current size.
        rank: this process's rank under data parallelism.
        world_size: number of data-parallel processes (each takes its slice of every global batch).
    """

    def __init__(
        self,
        batches: PlannedBatches,
        sizer: BatchSizer,
        *,
        min_batch: int = 1,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.batches = batches
        self.sizer = sizer
        self.min_batch = min_batch
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self._orders: dict[int, torch.Tensor] = {}

    @property
    def batch_size(self) -> int:
        """The size of the next batch (samples across all ranks)."""
        return self.sizer.size

    @property
    def num_samples(self) -> int:
        return self.batches.num_samples

    def order(self, epoch: int) -> torch.Tensor:
        """Row indices of ``epoch`` in serving order, ``(samples per epoch,)`` int64."""
        if epoch not in self._orders:
            self._orders = {epoch: torch.cat(self.batches.plan(epoch))}  # one epoch cached at a time
        return self._orders[epoch]

    def plan(self, epoch: int) -> list[torch.Tensor]:
        """The wrapped batches' plan: the epoch's samples (what a noise measurement draws from)."""
        return self.batches.plan(epoch)

    def gather(self, rows: torch.Tensor, epoch: int, index: int) -> Batch:
        return self.batches.gather(rows, epoch, index)

    def __len__(self) -> int:
        return self.batches_in_epoch(self.sizer.epoch)

    def batches_in_epoch(self, epoch: int) -> int:
        """Batches of ``epoch``: those served so far plus what the rest takes at the current size.

        Exact once the epoch's last batch is served (the loop asks then, to close the epoch); before, a
        forecast at the current size.
        """
        total = len(self.order(epoch))
        if epoch == self.sizer.epoch:
            done, left = len(self.sizer.sizes), total - self.sizer.offset
        else:
            done, left = 0, total
        return done + self._count(left, self.sizer.size)

    def _count(self, left: int, size: int) -> int:
        if left <= 0:
            return 0
        if self.drop_last:
            return left // size
        count = math.ceil(left / size)
        if count > 1 and left - (count - 1) * size < self.min_batch:
            count -= 1
        return count

    def global_size(self, epoch: int, index: int) -> int:
        """Samples in global batch ``index`` of ``epoch`` (all ranks together), once it was served."""
        if epoch != self.sizer.epoch or not 0 <= index < len(self.sizer.sizes):
            raise IndexError(f"batch {index} of epoch {epoch} was not served yet")
        return self.sizer.sizes[index]

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Yield the rest of ``epoch`` from batch ``start_batch``, each of the size the sizer holds then.

        ``start_batch > 0`` resumes: the sizer must hold that epoch's position (restored from a checkpoint).
        """
        sizer = self.sizer
        if start_batch == 0:
            sizer.start_epoch(epoch)
        elif sizer.epoch != epoch or len(sizer.sizes) != start_batch:
            raise ValueError(
                f"cannot resume epoch {epoch} at batch {start_batch}: the batch schedule is at batch "
                f"{len(sizer.sizes)} of epoch {sizer.epoch}"
            )
        order = self.order(epoch)
        total = len(order)
        while sizer.offset < total:
            left = total - sizer.offset
            size = min(sizer.size, left)
            if size < sizer.size and self.drop_last:
                return
            if 0 < left - size < self.min_batch:
                size = left  # a lone remainder joins this batch
            rows = order[sizer.offset : sizer.offset + size]
            index = len(sizer.sizes)
            sizer.offset += size
            sizer.sizes.append(size)
            if self.world_size > 1:
                rows = shard_rows(rows, self.rank, self.world_size)
                index = index * self.world_size + self.rank  # each rank's own augmentation draws
            yield self.batches.gather(rows, epoch, index)

    def preview(self, epoch: int) -> Iterator[Batch]:
        """Batches of the current size from the start of ``epoch``, leaving the schedule's position alone
        (for statistics passes such as precise batch norm)."""
        order, size = self.order(epoch), self.sizer.size
        for index, first in enumerate(range(0, len(order), size)):
            rows = order[first : first + size]
            if len(rows) < self.min_batch:
                return
            if self.world_size > 1:
                rows = shard_rows(rows, self.rank, self.world_size)
                index = index * self.world_size + self.rank
            yield self.batches.gather(rows, epoch, index)
