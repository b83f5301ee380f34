"""Mini-batches of a token stream for language modelling: non-overlapping windows of ``context`` tokens.

A training epoch covers the text once: it starts at a random offset in ``[0, context)`` (drawn from
``(seed, epoch)``), cuts the text from there into ``windows`` non-overlapping windows of ``context``
tokens, shuffles the windows and groups them into batches. The random offset moves the window
boundaries from epoch to epoch, so no token is always the first of its window. Each window's targets
are its tokens shifted by one (next-token prediction), so a window reads ``context + 1`` tokens.
Because the order of an epoch depends only on ``(seed, epoch)``, batch count, reshuffling and
mid-epoch resume behave as for tables. Evaluation (``shuffle=False``) reads the windows from offset
0 in text order.

A batch size counts windows (samples); a token budget such as ``"4096tokens"`` means
``4096 // context`` windows.

Example:
    >>> import torch
    >>> batches = WindowBatches(torch.arange(50), context=8, batch_size=2, seed=0)
    >>> batches.num_samples, len(batches)
    (5, 3)
    >>> batch = next(batches.epoch(0))
    >>> bool((batch.y == batch.x + 1).all()), tuple(batch.x.shape)
    (True, (2, 8))
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from batchlab.config import token_budget
from batchlab.data.batch import Batch
from batchlab.data.batching import batch_count, epoch_seed

__all__ = ["WindowBatches", "window_count"]


def window_count(tokens: int, context: int, *, random_offset: bool) -> int:
    """Windows of ``context`` tokens (plus one target token) per epoch in a text of ``tokens`` tokens.

    From offset 0 there are ``(tokens - 1) // context``; a random offset in ``[0, context)`` costs one
    window when there are at least two, so that every offset leaves room for all of them.

    >>> window_count(50, 8, random_offset=False), window_count(50, 8, random_offset=True)
    (6, 5)
    >>> window_count(9, 8, random_offset=True)
    1
    """
    windows = (tokens - 1) // context
    return windows - 1 if random_offset and windows >= 2 else windows


class WindowBatches:
    """Batches of ``(windows, context)`` input ids and their next-token targets.

    Args:
        ids: ``(tokens,)`` int64 token ids of one split, in text order.
        context: tokens per window.
        batch_size: windows per batch, ``"full"``, or a token budget like ``"4096tokens"``.
        shuffle: random offset and window order every epoch (training); ``False``: offset 0, text order.
        drop_last: drop the last incomplete batch.
        seed: seed of the per-epoch offsets and orders.
        device: where batches are served.
    """

    def __init__(
        self,
        ids: torch.Tensor,
        context: int,
        batch_size: int | str,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        if ids.dim() != 1:
            raise ValueError(f"ids must be one stream of shape (tokens,), got {tuple(ids.shape)}")
        self.ids = ids.long().contiguous()
        self.context = context
        self.shuffle = shuffle
        self.seed = seed
        self.device = torch.device(device) if device is not None else self.ids.device
        self.windows = window_count(len(ids), context, random_offset=shuffle)
        if self.windows < 1:
            raise ValueError(f"{len(ids)} tokens hold no window of {context} tokens plus a target")
        budget = token_budget(batch_size)
        if budget is not None:
            size = max(1, budget // context)
        else:
            size = self.windows if batch_size == "full" else int(batch_size)
        self.batch_size = min(size, self.windows)
        self.drop_last = drop_last and self.batch_size < self.windows
        self.transform = None
        self._offsets = torch.arange(context + 1)

    @property
    def num_samples(self) -> int:
        """Windows per epoch."""
        return self.windows

    @property
    def tokens_per_epoch(self) -> int:
        """Predicted tokens per epoch, ``windows x context``."""
        return len(self) * self.batch_size * self.context if self.drop_last else self.windows * self.context

    def __len__(self) -> int:
        return batch_count(self.windows, self.batch_size, self.drop_last)

    def batches_in_epoch(self, epoch: int) -> int:
        return len(self)

    def starts(self, epoch: int) -> torch.Tensor:
        """First token of every window of ``epoch``, in serving order, ``(windows,)`` int64."""
        if not self.shuffle:
            return torch.arange(self.windows) * self.context
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        slack = len(self.ids) - 1 - self.windows * self.context  # >= context - 1 when a window was given up
        offset = int(torch.randint(0, min(slack, self.context - 1) + 1, (1,), generator=generator))
        order = torch.randperm(self.windows, generator=generator)
        return offset + order * self.context

    def plan(self, epoch: int) -> list[torch.Tensor]:
        """Window starts of each batch of ``epoch``."""
        starts, size = self.starts(epoch), self.batch_size
        return [starts[i * size : (i + 1) * size] for i in range(len(self))]

    def gather(self, rows: torch.Tensor, epoch: int, index: int) -> Batch:
        """Windows starting at ``rows``: inputs ``(b, context)`` and targets shifted by one, on the device."""
        tokens = self.ids[rows.to(self.ids.device).unsqueeze(1) + self._offsets.to(self.ids.device)]
        return Batch(tokens[:, :-1], tokens[:, 1:]).to(self.device)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Yield batches ``start_batch, ..., len(self) - 1`` of ``epoch``."""
        plan = self.plan(epoch)
        for index in range(start_batch, len(plan)):
            yield self.gather(plan[index], epoch, index)

    def __repr__(self) -> str:
        return (
            f"WindowBatches(tokens={len(self.ids)}, context={self.context}, windows={self.windows}, "
            f"batch_size={self.batch_size}, batches={len(self)}, shuffle={self.shuffle}, seed={self.seed})"
        )
