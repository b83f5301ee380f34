"""Variable-length samples stored flat: every sequence end to end in one tensor, plus offsets.

A split of texts or recordings is one contiguous ``values`` tensor and ``offsets`` marking where each
sample starts, so that a split of thousands of sequences is two tensors (no Python list of tensors to
pickle, copy or iterate), and a padded batch is gathered with one indexing operation.

Example:
    >>> import torch
    >>> seqs = Ragged.from_sequences([torch.tensor([5, 6, 7]), torch.tensor([8])])
    >>> len(seqs), seqs.lengths.tolist(), seqs[1].tolist()
    (2, [3, 1], [8])
    >>> padded, lengths = seqs.pad(torch.tensor([1, 0]))
    >>> padded.tolist(), lengths.tolist()
    ([[8, 0, 0], [5, 6, 7]], [1, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Ragged"]


@dataclass(frozen=True)
class Ragged:
    """``n`` sequences of varying length, stored end to end.

    Attributes:
        values: every sequence concatenated, ``(total_steps, *step_shape)``: token ids
            ``(total_tokens,)`` int64, waveform samples ``(total_samples,)`` float32 or feature frames
            ``(total_frames, features)``.
        offsets: ``(n + 1,)`` int64; sequence ``i`` is ``values[offsets[i]:offsets[i + 1]]``.
    """

    values: torch.Tensor
    offsets: torch.Tensor

    def __post_init__(self) -> None:
        if self.offsets.dim() != 1 or len(self.offsets) < 1 or int(self.offsets[0]) != 0:
            raise ValueError("offsets must be a 1-D tensor starting at 0")
        if int(self.offsets[-1]) != len(self.values):
            raise ValueError(f"offsets end at {int(self.offsets[-1])} but values hold {len(self.values)} steps")

    @classmethod
    def from_sequences(cls, sequences: Sequence[torch.Tensor], dtype: torch.dtype | None = None) -> Ragged:
        """Store ``sequences`` (each ``(length_i, *step_shape)``) end to end."""
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
        offsets = torch.zeros(len(sequences) + 1, dtype=torch.int64)
        torch.cumsum(lengths, 0, out=offsets[1:])
        if sequences:
            values = torch.cat([torch.as_tensor(s) for s in sequences])
        else:
            values = torch.zeros(0, dtype=dtype or torch.int64)
        return cls(values.to(dtype) if dtype is not None else values, offsets)

    def __len__(self) -> int:
        """Number of sequences."""
        return len(self.offsets) - 1

    @property
    def lengths(self) -> torch.Tensor:
        """Steps of each sequence, ``(n,)`` int64."""
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def step_shape(self) -> tuple[int, ...]:
        """Shape of one step: ``()`` for ids or samples, ``(features,)`` for frames."""
        return tuple(self.values.shape[1:])

    def __getitem__(self, index: int) -> torch.Tensor:
        """Sequence ``index``, ``(length, *step_shape)`` (a view)."""
        return self.values[int(self.offsets[index]) : int(self.offsets[index + 1])]

    def take(self, rows: torch.Tensor | Sequence[int]) -> Ragged:
        """The sequences at positions ``rows``, in that order, as a new compact :class:`Ragged`."""
        rows = torch.as_tensor(rows, dtype=torch.int64)
        lengths = self.lengths[rows]
        offsets = torch.zeros(len(rows) + 1, dtype=torch.int64)
        torch.cumsum(lengths, 0, out=offsets[1:])
        return Ragged(self.values[_step_indices(self.offsets[rows], lengths, offsets)], offsets)

    def pad(
        self, rows: torch.Tensor, pad_value: float = 0, max_length: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences ``rows`` padded to the longest of them (cut to ``max_length`` when given).

        Args:
            rows: ``(batch,)`` int64 sequence indices.
            pad_value: value of the padding steps (the pad token id, or 0.0 for audio).
            max_length: keep at most the first ``max_length`` steps of each sequence.

        Returns:
            ``padded`` of shape ``(batch, time, *step_shape)`` with ``time`` the longest kept length,
            and ``lengths`` ``(batch,)`` int64 (kept steps of each sequence).
        """
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        if max_length is not None:
            lengths = lengths.clamp(max=max_length)
        time = int(lengths.max()) if len(rows) else 0
        steps = torch.arange(time, dtype=torch.int64)
        valid = steps.unsqueeze(0) < lengths.unsqueeze(1)  # (batch, time)
        index = (starts.unsqueeze(1) + steps.unsqueeze(0)).clamp(max=max(len(self.values) - 1, 0))
        padded = self.values[index.reshape(-1)].reshape(len(rows), time, *self.step_shape)
        mask = valid.reshape(len(rows), time, *([1] * len(self.step_shape)))
        padded = padded.masked_fill(~mask, pad_value) if len(self.values) else padded
        return padded, lengths


def _step_indices(starts: torch.Tensor, lengths: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Flat indices of the steps of sequences starting at ``starts`` with ``lengths`` (in order)."""
    total = int(offsets[-1])
    owner = torch.repeat_interleave(torch.arange(len(lengths)), lengths, output_size=total)
    return starts[owner] + (torch.arange(total) - offsets[:-1][owner])
