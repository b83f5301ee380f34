"""Masks of the valid (non-padding) steps of padded sequences."""

from __future__ import annotations

import torch

__all__ = ["valid_mask"]


def valid_mask(lengths: torch.Tensor | None, batch: int, time: int, device: torch.device | None = None) -> torch.Tensor:
    """Which steps of a padded batch hold data.

    Args:
        lengths: ``(batch,)`` int64 valid steps of each sequence, each in ``[1, time]``; ``None``
            when no sequence is padded.
        batch: sequences in the batch (used when ``lengths`` is ``None``).
        time: padded length, in steps.
        device: where the mask lives when ``lengths`` is ``None`` (default: the CPU).

    Returns:
        ``(batch, time)`` bool, ``True`` at steps ``t < lengths[b]``.

    >>> valid_mask(torch.tensor([3, 1]), 2, 4).int().tolist()
    [[1, 1, 1, 0], [1, 0, 0, 0]]
    """
    if lengths is None:
        return torch.ones(batch, time, dtype=torch.bool, device=device)
    steps = torch.arange(time, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)
