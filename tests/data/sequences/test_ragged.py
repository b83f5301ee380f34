"""Ragged storage: sequences end to end, taken and padded by index."""

from __future__ import annotations

import pytest
import torch

from batchlab.data.sequences import Ragged


def _ragged() -> Ragged:
    return Ragged.from_sequences([torch.arange(1, 4), torch.arange(10, 12), torch.tensor([20]), torch.arange(30, 35)])


def test_lengths_items_and_take() -> None:
    seqs = _ragged()
    assert seqs.lengths.tolist() == [3, 2, 1, 5]
    assert seqs[3].tolist() == [30, 31, 32, 33, 34]
    taken = seqs.take(torch.tensor([3, 1]))
    assert len(taken) == 2 and taken[0].tolist() == [30, 31, 32, 33, 34] and taken[1].tolist() == [10, 11]


def test_pad_fills_past_each_length_and_cuts_to_max_length() -> None:
    padded, lengths = _ragged().pad(torch.tensor([2, 0, 3]), pad_value=-1)
    assert padded.tolist() == [[20, -1, -1, -1, -1], [1, 2, 3, -1, -1], [30, 31, 32, 33, 34]]
    assert lengths.tolist() == [1, 3, 5]
    cut, cut_lengths = _ragged().pad(torch.tensor([3, 1]), max_length=3)
    assert cut.tolist() == [[30, 31, 32], [10, 11, 0]] and cut_lengths.tolist() == [3, 2]


def test_frames_keep_their_feature_dimension() -> None:
    frames = Ragged.from_sequences([torch.ones(4, 3), torch.full((2, 3), 2.0)])
    padded, lengths = frames.pad(torch.tensor([1, 0]))
    assert padded.shape == (2, 4, 3) and lengths.tolist() == [2, 4]
    assert padded[0, 2:].abs().sum() == 0 and torch.all(padded[0, :2] == 2.0)


def test_offsets_must_match_the_values() -> None:
    with pytest.raises(ValueError, match="offsets end at"):
        Ragged(torch.zeros(3), torch.tensor([0, 2]))
