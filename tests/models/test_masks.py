from __future__ import annotations

import torch

from batchlab.models import valid_mask


def test_mask_marks_the_first_length_steps() -> None:
    mask = valid_mask(torch.tensor([3, 1, 4]), 3, 4)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False], [True, True, True, True]]


def test_no_lengths_means_every_step_is_valid() -> None:
    assert valid_mask(None, 2, 3).all() and valid_mask(None, 2, 3).shape == (2, 3)
