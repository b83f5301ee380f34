"""Language-model windows: non-overlapping, shuffled, a random offset per epoch, next-token targets."""

from __future__ import annotations

import itertools

import torch

from batchlab.data.sequences import WindowBatches, window_count


def test_targets_are_inputs_shifted_by_one_token() -> None:
    ids = torch.arange(1000) * 7 % 65
    for batch in WindowBatches(ids, context=16, batch_size=4, seed=0).epoch(0):
        assert batch.x.shape[1] == 16 and torch.equal(batch.x[:, 1:], batch.y[:, :-1])
        assert torch.equal(batch.y[:, -1], (batch.x[:, -1] + 7) % 65)  # the token after the window


def test_an_epoch_covers_the_text_once_in_non_overlapping_windows() -> None:
    ids = torch.arange(1000)  # each token is its position, so windows say where they start
    batches = WindowBatches(ids, context=16, batch_size=5, seed=3)
    for epoch in range(4):
        starts = sorted(int(b.x[i, 0]) for b in batches.epoch(epoch) for i in range(len(b)))
        assert len(starts) == batches.num_samples == window_count(1000, 16, random_offset=True)
        assert all(b - a == 16 for a, b in itertools.pairwise(starts))  # contiguous, no overlap
        assert starts[0] < 16


def test_the_offset_and_order_change_between_epochs_and_repeat_for_a_seed() -> None:
    ids = torch.arange(5000)
    batches = WindowBatches(ids, context=32, batch_size=8, seed=1)
    offsets = {int(next(batches.epoch(e)).x.min()) % 32 for e in range(8)}
    assert len(offsets) > 1
    same = WindowBatches(ids, context=32, batch_size=8, seed=1)
    assert torch.equal(next(batches.epoch(5)).x, next(same.epoch(5)).x)
    tail = list(same.epoch(5, start_batch=3))
    assert torch.equal(tail[0].x, list(batches.epoch(5))[3].x)


def test_evaluation_reads_from_the_start_in_text_order() -> None:
    ids = torch.arange(100)
    batches = WindowBatches(ids, context=10, batch_size=4, shuffle=False)
    starts = [int(row[0]) for b in batches.epoch(0) for row in b.x]
    assert starts == list(range(0, 90, 10))  # (100 - 1) // 10 windows


def test_a_token_budget_counts_windows_of_the_context() -> None:
    assert WindowBatches(torch.arange(10_000), context=64, batch_size="1024tokens").batch_size == 16
