"""ScheduledBatches: sizes that change between steps, with every sample once per epoch."""

from __future__ import annotations

import torch

from batchlab.data.batching import MiniBatches
from batchlab.data.scheduled import BatchSizer, ScheduledBatches


def _batches(n: int = 50, size: int = 4, **kwargs: object) -> tuple[ScheduledBatches, BatchSizer]:
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    sizer = BatchSizer(size)
    return ScheduledBatches(MiniBatches(x, torch.arange(n), size, seed=3), sizer, **kwargs), sizer  # type: ignore[arg-type]


def _grow(batches: ScheduledBatches, sizer: BatchSizer, epoch: int, sizes: list[int]) -> list[torch.Tensor]:
    """Serve ``epoch``, setting the size of batch k to ``sizes[k]`` (the last one repeated)."""
    served = []
    sizer.size = sizes[0]
    for k, batch in enumerate(batches.epoch(epoch)):
        served.append(batch.y)
        sizer.size = sizes[min(k + 1, len(sizes) - 1)]
    return served


def test_every_sample_once_per_epoch_whatever_the_sizes() -> None:
    batches, sizer = _batches()
    served = _grow(batches, sizer, 0, [2, 3, 5, 8, 13, 21])
    assert [len(b) for b in served] == [2, 3, 5, 8, 13, 19]
    assert sorted(torch.cat(served).tolist()) == list(range(50))
    assert sizer.sizes == [2, 3, 5, 8, 13, 19] and sizer.offset == 50


def test_the_order_is_the_epochs_permutation_and_changes_between_epochs() -> None:
    batches, sizer = _batches()
    fixed = MiniBatches(torch.zeros(50, 1), torch.arange(50), 4, seed=3)
    first = torch.cat(_grow(batches, sizer, 0, [4, 16]))
    assert torch.equal(first, fixed.permutation(0))
    second = torch.cat(_grow(batches, sizer, 1, [4, 16]))
    assert torch.equal(second, fixed.permutation(1)) and not torch.equal(first, second)


def test_a_lone_remainder_joins_the_last_batch_for_batch_norm() -> None:
    batches, sizer = _batches(n=21, min_batch=2)
    served = _grow(batches, sizer, 0, [4])
    assert [len(b) for b in served] == [4, 4, 4, 4, 5]
    assert batches.batches_in_epoch(1) == 5


def test_drop_last_ends_the_epoch_before_a_short_batch() -> None:
    batches, sizer = _batches(n=21, drop_last=True)
    assert [len(b) for b in _grow(batches, sizer, 0, [8])] == [8, 8]


def test_the_batch_count_is_exact_once_the_epoch_is_served() -> None:
    batches, sizer = _batches()
    sizer.size = 4
    iterator = batches.epoch(0)
    counts = []
    for _ in iterator:
        sizer.size = 10  # every later batch is larger: the forecast shrinks
        counts.append(batches.batches_in_epoch(0))
    assert counts[0] == 1 + 5 and counts[-1] == len(counts) == 6  # 4 then 10 x 4, then 6


def test_resuming_mid_epoch_serves_the_same_batches() -> None:
    batches, sizer = _batches()
    sizes = [3, 3, 7, 7, 12]
    sizer.size = 3
    whole, saved = [], None
    for k, batch in enumerate(batches.epoch(2)):
        whole.append(batch.y)
        sizer.size = sizes[min(k + 1, 4)]
        if k == 2:
            saved = sizer.state_dict()
    assert saved is not None
    again, sizer2 = _batches()
    sizer2.load_state_dict(saved)
    rest = []
    for k, batch in enumerate(again.epoch(2, start_batch=3)):
        rest.append(batch.y)
        sizer2.size = sizes[min(k + 4, 4)]
    assert all(torch.equal(a, b) for a, b in zip(whole[3:], rest, strict=True))


def test_ranks_split_each_global_batch_and_together_serve_it() -> None:
    shards = []
    for rank in range(2):
        batches, sizer = _batches(rank=rank, world_size=2)
        shards.append(_grow(batches, sizer, 0, [4, 6, 10]))
        assert [batches.global_size(0, i) for i in range(len(sizer.sizes))] == sizer.sizes
    single, sizer = _batches()
    whole = _grow(single, sizer, 0, [4, 6, 10])
    for a, b, both in zip(*shards, whole, strict=True):
        assert torch.equal(torch.cat([a, b]), both)


def test_preview_leaves_the_position_alone() -> None:
    batches, sizer = _batches()
    iterator = batches.epoch(0)
    next(iterator)
    position = sizer.state_dict()
    assert sum(len(b) for b in batches.preview(0)) == 50
    assert sizer.state_dict() == position
