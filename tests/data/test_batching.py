"""MiniBatches: batch counts, coverage of each epoch, seeded orders, drop_last, full batch and SGD."""

from __future__ import annotations

import pytest
import torch

from batchlab.data.batch import Batch
from batchlab.data.batching import MiniBatches, batch_count, resolve_batch_size


@pytest.mark.parametrize(
    ("n", "b", "drop_last", "expected"),
    [
        (10, 4, False, 3),
        (10, 4, True, 2),
        (10, 1, False, 10),
        (10, 10, False, 1),
        (10, 10, True, 1),
        (1797, 64, False, 29),
        (1797, 64, True, 28),
        (64, 64, True, 1),
        (7, 3, False, 3),
        (7, 3, True, 2),
    ],
)
def test_batch_count_is_the_number_of_batches_an_epoch_yields(n: int, b: int, drop_last: bool, expected: int) -> None:
    batches = MiniBatches(torch.arange(n).float().unsqueeze(1), torch.arange(n), b, drop_last=drop_last, seed=n)
    for epoch in range(2):
        sizes = [len(batch) for batch in batches.epoch(epoch)]
        assert len(sizes) == expected == len(batches) == batches.batches_in_epoch(epoch)
        assert sizes[:-1] == [b] * (expected - 1)  # only the last batch may be smaller
        assert sizes[-1] == (b if drop_last else n - b * (expected - 1))
        assert sum(sizes) == batches.samples_per_epoch
    assert batch_count(n, b, drop_last) == expected


def test_full_batch_is_one_batch_of_everything() -> None:
    x, y = torch.randn(37, 3), torch.arange(37)
    batches = MiniBatches(x, y, "full", seed=1)
    assert resolve_batch_size("full", 37) == 37
    assert len(batches) == 1
    (batch,) = list(batches.epoch(0))
    xb, yb = batch.x, batch.y
    assert xb.shape == (37, 3)
    assert sorted(yb.tolist()) == list(range(37))


def test_batch_size_one_runs_n_steps_per_epoch() -> None:
    batches = MiniBatches(torch.randn(13, 2), torch.arange(13), 1, seed=0)
    sizes = [len(b) for b in batches.epoch(3)]
    assert sizes == [1] * 13


@pytest.mark.parametrize("b", [1, 3, 8, 25, 100])
def test_each_epoch_covers_a_permutation_exactly_once(b: int) -> None:
    n = 25
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    batches = MiniBatches(x, torch.arange(n), min(b, n), seed=5)
    for epoch in range(3):
        seen = torch.cat([b.y for b in batches.epoch(epoch)])
        assert sorted(seen.tolist()) == list(range(n))
        # features travel with their targets
        xs = torch.cat([b.x for b in batches.epoch(epoch)]).squeeze(1)
        assert torch.equal(xs.long(), seen)


def test_drop_last_drops_the_remainder_only() -> None:
    batches = MiniBatches(torch.randn(10, 2), torch.arange(10), 4, drop_last=True, seed=0)
    sizes = [len(b) for b in batches.epoch(0)]
    assert sizes == [4, 4]
    assert batches.samples_per_epoch == 8


def test_same_seed_same_order_and_new_order_each_epoch() -> None:
    x, y = torch.randn(100, 2), torch.arange(100)
    a = MiniBatches(x, y, 10, seed=7)
    b = MiniBatches(x, y, 10, seed=7)
    c = MiniBatches(x, y, 10, seed=8)
    assert torch.equal(a.permutation(0), b.permutation(0))
    assert not torch.equal(a.permutation(0), c.permutation(0))
    assert not torch.equal(a.permutation(0), a.permutation(1))


def test_iterating_the_object_runs_consecutive_epochs() -> None:
    batches = MiniBatches(torch.randn(20, 1), torch.arange(20), 20 - 1, seed=3)
    first = torch.cat([b.y for b in batches])
    second = torch.cat([b.y for b in batches])
    assert torch.equal(first, torch.cat([b.y for b in batches.epoch(0)]))
    assert torch.equal(second, torch.cat([b.y for b in batches.epoch(1)]))


def test_starting_mid_epoch_yields_the_remaining_batches() -> None:
    batches = MiniBatches(torch.randn(30, 2), torch.arange(30), 7, seed=2)
    whole = [b.y for b in batches.epoch(4)]
    tail = [b.y for b in batches.epoch(4, start_batch=2)]
    assert len(tail) == len(whole) - 2
    assert all(torch.equal(a, b) for a, b in zip(whole[2:], tail, strict=True))


def test_no_shuffle_keeps_order() -> None:
    batches = MiniBatches(torch.randn(9, 2), torch.arange(9), 4, shuffle=False)
    assert torch.cat([b.y for b in batches.epoch(5)]).tolist() == list(range(9))


def test_transform_sees_every_batch_with_its_position() -> None:
    seen: list[tuple[int, int]] = []

    def transform(batch: Batch, epoch: int, index: int) -> Batch:
        seen.append((epoch, index))
        return Batch(batch.x + 1, batch.y)

    batches = MiniBatches(torch.zeros(10, 1), torch.arange(10), 5, seed=0, transform=transform)
    out = [b.x for b in batches.epoch(2)]
    assert seen == [(2, 0), (2, 1)]
    assert all(torch.all(xb == 1) for xb in out)


def test_gather_is_at_most_one_index_select_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = torch.Tensor.index_select

    def counting(self: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return original(self, dim, index)

    monkeypatch.setattr(torch.Tensor, "index_select", counting)
    batches = MiniBatches(torch.randn(1000, 4), torch.arange(1000), 100, seed=0)
    for _ in batches.epoch(0):
        pass
    assert 2 <= calls["n"] <= 2 * len(batches)  # gathers for x and y cover whole batches, none per sample


def test_batches_are_the_rows_of_the_epoch_permutation() -> None:
    x, y = torch.randn(1000, 3), torch.arange(1000)
    batches = MiniBatches(x, y, 7, seed=3)
    assert batches.batches_per_gather > 1  # several small batches per gather
    order = batches.permutation(4)
    for index, batch in enumerate(batches.epoch(4, start_batch=2), start=2):
        xb, yb = batch.x, batch.y
        rows = order[index * 7 : (index + 1) * 7]
        assert torch.equal(yb, y[rows]) and torch.equal(xb, x[rows]) and xb.is_contiguous()


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="samples"):
        MiniBatches(torch.zeros(3, 1), torch.zeros(4), 2)
