"""The Batch type: model inputs, token counts, and micro-batches for gradient accumulation."""

from __future__ import annotations

import torch

from batchlab.data.batch import Batch


def test_inputs_are_x_alone_or_x_with_lengths() -> None:
    fixed = Batch(torch.zeros(3, 4), torch.zeros(3))
    padded = Batch(torch.zeros(3, 5, dtype=torch.long), torch.zeros(3), torch.tensor([5, 2, 1]))
    assert len(fixed.inputs) == 1 and fixed.inputs[0] is fixed.x
    assert padded.inputs[1] is padded.lengths
    assert (padded.tokens, padded.padded_tokens) == (8, 15)
    assert Batch(torch.zeros(2, 7, dtype=torch.long), torch.zeros(2, 7, dtype=torch.long)).tokens == 14


def test_split_cuts_consecutive_chunks_that_rejoin_to_the_batch() -> None:
    batch = Batch(torch.arange(41.0).unsqueeze(1), torch.arange(41))
    parts = batch.split(4)
    assert [len(p) for p in parts] == [11, 11, 11, 8]
    assert torch.equal(torch.cat([p.y for p in parts]), batch.y)
    assert batch.split(1) == [batch]


def test_split_merges_a_lone_last_sample_for_batch_norm() -> None:
    batch = Batch(torch.zeros(5, 2), torch.arange(5))
    assert [len(p) for p in batch.split(4)] == [2, 2, 1]
    assert [len(p) for p in batch.split(4, min_size=2)] == [2, 3]


def test_split_trims_each_padded_chunk_to_its_longest_sequence() -> None:
    x = torch.arange(4 * 6).reshape(4, 6)
    batch = Batch(x, torch.arange(4), torch.tensor([2, 3, 6, 1]))
    first, second = batch.split(2)
    assert first.x.shape == (2, 3) and torch.equal(first.x, x[:2, :3])
    assert second.x.shape == (2, 6) and torch.equal(second.lengths, torch.tensor([6, 1]))
