"""One mini-batch as the training loop sees it: inputs, targets and, for padded sequences, lengths.

Fixed-size samples (table rows, images) need only ``x`` and ``y``. Variable-length samples (token
sequences, audio frames) are padded to the longest in the batch and carry ``lengths``, so that a
model can mask the padding (or pack the sequences) and padding never changes a loss, a pooled
vector or a recurrent state. The loop calls ``model(*batch.inputs)``: ``model(x)`` or
``model(x, lengths)``.

Example:
    >>> import torch
    >>> batch = Batch(torch.zeros(2, 5, dtype=torch.long), torch.tensor([0, 1]), torch.tensor([5, 3]))
    >>> len(batch), batch.tokens, batch.padded_tokens
    (2, 8, 10)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

__all__ = ["Batch"]


@dataclass(frozen=True, slots=True)
class Batch:
    """A mini-batch.

    Attributes:
        x: inputs, ``(batch, *sample_shape)`` for fixed-size samples; padded sequences
            ``(batch, time)`` of token ids or ``(batch, time, features)`` of frames (or, before
            feature extraction, ``(batch, samples)`` of waveforms).
        y: targets, ``(batch,)`` class indices or regression values, or ``(batch, time)`` next-token
            ids for a language model.
        lengths: ``(batch,)`` int64 valid steps of each sequence along dim 1 of ``x``; ``None`` when
            every sample has the full length (no padding).
    """

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None

    def __len__(self) -> int:
        """Samples in the batch."""
        return int(self.y.shape[0])

    @property
    def inputs(self) -> tuple[torch.Tensor, ...]:
        """The model's arguments: ``(x,)`` or ``(x, lengths)``."""
        return (self.x,) if self.lengths is None else (self.x, self.lengths)

    @property
    def tokens(self) -> int:
        """Valid time steps summed over the batch (samples for fixed-size inputs)."""
        if self.x.dim() < 2 or self.lengths is None:
            return len(self) if self.y.dim() < 2 else int(self.y.numel())
        return int(self.lengths.sum())

    @property
    def padded_tokens(self) -> int:
        """Time steps including padding, ``batch * time`` (samples for fixed-size inputs)."""
        if self.lengths is None:
            return self.tokens
        return len(self) * int(self.x.shape[1])

    def split(self, parts: int, min_size: int = 1) -> list[Batch]:
        """Micro-batches for gradient accumulation: consecutive chunks of ``ceil(len / parts)`` samples.

        A padded chunk is cut to its own longest sequence. A last chunk smaller than ``min_size`` is
        merged into the one before it (batch normalization needs 2 samples).

        >>> import torch
        >>> [len(b) for b in Batch(torch.zeros(41, 2), torch.zeros(41)).split(4)]
        [11, 11, 11, 8]
        >>> [len(b) for b in Batch(torch.zeros(5, 2), torch.zeros(5)).split(4, min_size=2)]
        [2, 3]
        """
        if parts <= 1 or len(self) <= 1:
            return [self]
        size = -(-len(self) // parts)
        bounds = [*list(range(0, len(self), size)), len(self)]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < min_size:
            del bounds[-2]
        return [self._slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]

    def _slice(self, lo: int, hi: int) -> Batch:
        if self.lengths is None:
            return Batch(self.x[lo:hi], self.y[lo:hi])
        lengths = self.lengths[lo:hi]
        longest = int(lengths.max())
        y = self.y[lo:hi]
        if y.dim() == 2 and y.shape[1] == self.x.shape[1]:
            y = y[:, :longest]  # per-step targets are padded like the inputs
        return Batch(self.x[lo:hi, :longest], y, lengths)

    def to(self, device: torch.device, non_blocking: bool = False) -> Batch:
        """The same batch on ``device`` (lengths included)."""
        lengths = self.lengths.to(device, non_blocking=non_blocking) if self.lengths is not None else None
        return Batch(
            self.x.to(device, non_blocking=non_blocking), self.y.to(device, non_blocking=non_blocking), lengths
        )
