"""Variable-length mini-batches: every sample once per epoch, bucketing, token budgets, exact resume, sharding."""

from __future__ import annotations

import pytest
import torch

from batchlab.data.batch import Batch
from batchlab.data.sequences import Ragged, SequenceBatches, plan_batches
from batchlab.data.sharding import ShardedBatches


def _texts(n: int = 300, seed: int = 0) -> Ragged:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 120, (n,), generator=g)
    # Each sequence is filled with its own index + 1, so a padded batch tells which samples it holds.
    return Ragged.from_sequences([torch.full((int(n_),), i + 1) for i, n_ in enumerate(lengths)])


def _served(batches: SequenceBatches, epoch: int) -> list[Batch]:
    return list(batches.epoch(epoch))


@pytest.mark.parametrize("bucket", [True, False])
@pytest.mark.parametrize("size", [1, 7, 32, "full", "900tokens"])
def test_every_sample_once_per_epoch(bucket: bool, size: int | str) -> None:
    texts = _texts()
    batches = SequenceBatches(texts, torch.arange(300), size, bucket=bucket, seed=1)
    for epoch in range(2):
        served = _served(batches, epoch)
        assert len(served) == batches.batches_in_epoch(epoch)
        assert sorted(torch.cat([b.y for b in served]).tolist()) == list(range(300))
        for batch in served:  # padding never replaces a sample's own steps
            for row, length in zip(batch.x, batch.lengths, strict=True):
                assert torch.all(row[:length] == row[0]) and torch.all(row[length:] == 0)


def test_bucketing_cuts_padding_and_keeps_batches_random() -> None:
    texts = _texts(2000)
    bucketed = SequenceBatches(texts, torch.arange(2000), 32, bucket=True, seed=0)
    random = SequenceBatches(texts, torch.arange(2000), 32, bucket=False, seed=0)
    valid, padded_bucketed = bucketed.padding(0)
    _, padded_random = random.padding(0)
    assert (padded_bucketed - valid) < (padded_random - valid) / 5
    # The order of batches is shuffled: lengths do not rise monotonically through the epoch.
    longest = [int(b.lengths.max()) for b in bucketed.epoch(0)]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)
    # Batches differ from epoch to epoch.
    assert [b.y.tolist() for b in bucketed.epoch(0)] != [b.y.tolist() for b in bucketed.epoch(1)]


def test_a_token_budget_bounds_every_padded_batch() -> None:
    texts = _texts(500)
    batches = SequenceBatches(texts, torch.arange(500), "1000tokens", seed=3)
    for batch in batches.epoch(0):
        assert batch.x.numel() <= 1000 or len(batch) == 1
    assert batches.budget == 1000 and batches.batch_size > 1


def test_the_same_seed_and_epoch_give_the_same_plan_and_a_resumed_epoch_its_tail() -> None:
    texts = _texts()
    first = SequenceBatches(texts, torch.arange(300), 16, seed=5)
    again = SequenceBatches(texts, torch.arange(300), 16, seed=5)
    whole = [b.y for b in first.epoch(3)]
    tail = [b.y for b in again.epoch(3, start_batch=7)]
    assert all(torch.equal(a, b) for a, b in zip(whole[7:], tail, strict=True)) and len(tail) == len(whole) - 7


def test_drop_last_and_min_batch_leave_out_only_the_short_last_batch() -> None:
    texts = _texts(101)
    dropped = SequenceBatches(texts, torch.arange(101), 10, drop_last=True, seed=0)
    assert len(dropped) == 10 and all(len(b) == 10 for b in dropped.epoch(0))
    lone = SequenceBatches(texts, torch.arange(101), 10, min_batch=2, seed=0)
    assert len(lone) == 10 and sum(len(b) for b in lone.epoch(0)) == 100


def test_plan_batches_sorts_pools_by_length() -> None:
    lengths = torch.tensor([9, 1, 8, 2, 7, 3])
    batches = plan_batches(lengths, torch.arange(6), batch_size=2, pool_batches=3)
    assert [lengths[b].tolist() for b in batches] == [[1, 2], [3, 7], [8, 9]]


def test_shards_gather_padded_batches_through_the_same_path() -> None:
    texts = _texts(97)
    seen: list[int] = []

    def transform(batch: Batch, epoch: int, index: int) -> Batch:
        seen.append(index)
        return batch

    whole = SequenceBatches(texts, torch.arange(97), 8, seed=2, transform=transform)
    shards = [ShardedBatches(whole, rank, 2) for rank in range(2)]
    served = [b for shard in shards for b in shard.epoch(0)]
    assert sorted(torch.cat([b.y for b in served]).tolist()) == list(range(97))
    assert all(b.lengths is not None and b.x.shape[1] == int(b.lengths.max()) for b in served if len(b))
    assert seen and len(set(seen)) == len(seen)  # every shard's batch got its own transform index
