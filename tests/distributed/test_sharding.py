"""Sharded mini-batches (data/sharding.py): across ranks every sample once per epoch, none twice; equal step counts."""

from __future__ import annotations

import pytest
import torch

from batchlab.data.batching import MiniBatches
from batchlab.data.sharding import ShardedBatches


def _ranks(n: int, batch: int, world: int, drop_last: bool = False) -> list[ShardedBatches]:
    whole = MiniBatches(torch.arange(n).float().unsqueeze(1), torch.arange(n), batch, drop_last=drop_last, seed=3)
    return [ShardedBatches(whole, rank, world) for rank in range(world)]


@pytest.mark.parametrize(("n", "batch", "world"), [(100, 10, 2), (101, 10, 2), (97, 8, 3), (5, 4, 4), (64, 64, 2)])
def test_each_sample_is_seen_once_per_epoch_across_ranks(n: int, batch: int, world: int) -> None:
    shards = _ranks(n, batch, world)
    for epoch in range(2):
        seen = torch.cat([b.y for shard in shards for b in shard.epoch(epoch)])
        assert sorted(seen.tolist()) == list(range(n))
    assert len({len(shard) for shard in shards}) == 1  # every rank takes the same number of steps


def test_the_union_of_a_step_is_the_single_process_batch() -> None:
    shards = _ranks(50, 8, 2)
    single = list(MiniBatches(torch.arange(50).float().unsqueeze(1), torch.arange(50), 8, seed=3).epoch(1))
    for index, yb in enumerate(b.y for b in single):
        parts = [list(shard.epoch(1))[index].y for shard in shards]
        assert torch.equal(torch.cat(parts), yb)


def test_drop_last_drops_the_incomplete_global_batch_on_every_rank() -> None:
    shards = _ranks(21, 8, 2, drop_last=True)
    assert [sum(len(b) for b in s.epoch(0)) for s in shards] == [8, 8]
    assert shards[0].local_batch_size == 4


def test_a_rank_outside_the_world_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside"):
        _ranks(10, 2, 2)[0].__class__(MiniBatches(torch.zeros(4, 1), torch.zeros(4), 2), rank=2, world_size=2)
