"""Mini-batches streamed from disk with bounded memory: exact or buffered shuffling, prefetched.

Memory holds a few batches (the prefetch queue), the shuffle buffer and one block of rows, whatever
the size of the data. Two shuffles, both seeded by ``(seed, epoch)`` and resumable at any batch:

``exact``
    Every epoch is a fresh pseudo-random permutation of all rows of the split
    (:class:`~batchlab.data.stream.bijection.Bijection`, constant memory): each batch is a uniform draw
    without replacement, as in memory. The batch's rows are read in sorted order (one positional read
    per row, or one page fault per row through a memory map) and served in that order. Costs one
    small random read per sample: fine from the page cache or an SSD, slow from a cold spinning disk.
``buffer``
    The split's blocks (``block_rows`` consecutive rows) are visited in a fresh random order every
    epoch and read sequentially, ``buffer_batches`` batches' worth at a time into a buffer that is
    shuffled before it is cut into batches. Reads are large and sequential (fast from any disk), but
    a batch only mixes rows of the blocks in one buffer: rows that are neighbours in the file tend
    to share batches. Use it when the file's order is already random, or when reads are the limit.

A split of a store is a list of blocks (:class:`BlockSplit`): streamed data is split into train /
validation / test by blocks, not by rows, so that every split can be read sequentially.

Example:
    >>> import numpy as np
    >>> from batchlab.data.stream.rows import ArrayRows
    >>> rows = BlockSplit.whole(ArrayRows(np.arange(20.0).reshape(10, 2)), block_rows=4)
    >>> decode = lambda parts: (parts[0][:, :1], parts[0][:, 1])
    >>> batches = StreamBatches(rows, decode, batch_size=4, seed=0)
    >>> len(batches), [len(batch) for batch in batches.epoch(0)]
    (3, [4, 4, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch

from batchlab.data.batch import Batch
from batchlab.data.batching import BatchTransform, MiniBatches, epoch_seed
from batchlab.data.stream.bijection import Bijection
from batchlab.data.stream.prefetch import prefetch

__all__ = ["BlockSplit", "Decode", "StreamBatches"]

Decode = Callable[[tuple[np.ndarray, ...]], tuple[np.ndarray, np.ndarray]]
"""``decode(parts) -> (x, y)``: the rows read from each store (same rows) to features and targets."""

Shuffle = Literal["exact", "buffer", "none"]

_Segment = tuple[int, int, int]  # (block id, first row, end row) within the block

_ROWS_PER_PLAN = 1 << 14  # positions computed at once by the exact shuffle (amortizes numpy overhead)


@dataclass(frozen=True)
class BlockSplit:
    """Some blocks of one or more row stores read at the same rows, as one sequence of rows.

    Attributes:
        stores: the stores (features, and possibly labels), all with the same ``num_rows``.
        blocks: ids of the blocks in this split, in split order; block ``b`` holds the store's rows
            ``b * block_rows`` to ``min((b + 1) * block_rows, num_rows) - 1``.
        block_rows: rows per block.
    """

    stores: tuple[Any, ...]
    blocks: np.ndarray
    block_rows: int

    @classmethod
    def whole(cls, *stores: Any, block_rows: int = 4096) -> BlockSplit:
        """Every block of ``stores``, in file order."""
        count = -(-stores[0].num_rows // block_rows)
        return cls(tuple(stores), np.arange(count, dtype=np.int64), block_rows)

    @property
    def total_rows(self) -> int:
        """Rows in the stores (all splits together)."""
        return int(self.stores[0].num_rows)

    @cached_property
    def sizes(self) -> np.ndarray:
        """Rows in each of this split's blocks, ``(len(blocks),)``."""
        first = self.blocks * self.block_rows
        sizes: np.ndarray = np.minimum(first + self.block_rows, self.total_rows) - first
        return sizes

    @cached_property
    def starts(self) -> np.ndarray:
        """Split position of each block's first row, and the row count last: ``(len(blocks) + 1,)``."""
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @property
    def num_rows(self) -> int:
        return int(self.starts[-1])

    def __len__(self) -> int:
        return self.num_rows

    def rows_at(self, positions: np.ndarray) -> np.ndarray:
        """Store rows of split positions ``positions`` (int64 in ``[0, num_rows)``)."""
        owner = np.searchsorted(self.starts, positions, side="right") - 1
        rows: np.ndarray = self.blocks[owner] * self.block_rows + (positions - self.starts[owner])
        return rows

    def read(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """The sorted store rows ``rows`` of every store.

        Scattered rows are read one by one; rows that mostly come in runs of consecutive rows (an
        unshuffled pass) are read one run at a time.
        """
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        if 2 * len(breaks) >= len(rows):
            return tuple(store.read(rows) for store in self.stores)
        runs = np.split(rows, breaks)
        parts = [tuple(store.read_range(int(run[0]), int(run[-1]) + 1) for store in self.stores) for run in runs]
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def read_block(self, block: int, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, ...]:
        """Rows ``start:stop`` of block ``block`` (an id, not a position) of every store."""
        first = block * self.block_rows
        end = min(first + self.block_rows, self.total_rows)
        lo, hi = first + start, end if stop is None else min(end, first + stop)
        return tuple(store.read_range(lo, hi) for store in self.stores)


class StreamBatches(MiniBatches):
    """Mini-batches of rows read from disk as they are needed (the interface of :class:`MiniBatches`).

    Batch count, ``drop_last``, the ``(seed, epoch)`` seeding, ``start_batch`` resume and the per-batch
    ``transform`` behave as in :class:`MiniBatches`; there are no ``x`` / ``y`` tensors in memory.

    Args:
        split: the rows to serve.
        decode: turns the rows read (one array per store) into features ``(b, *input_shape)``
            float32 and targets ``(b,)``; it runs in the prefetch thread.
        batch_size: samples per batch, or ``"full"``.
        shuffle: ``"exact"``, ``"buffer"`` (see the module), or ``"none"`` / ``False`` for split
            order (evaluation); ``True`` means ``"exact"``.
        drop_last: drop the last incomplete batch.
        seed: seed of the per-epoch orders.
        buffer_batches: buffer shuffle: batches per shuffled buffer.
        prefetch: batches read ahead in a background thread (0: read in the calling thread).
        transform: applied to each feature batch on ``device`` (training augmentation).
        device: where batches go; from a CPU to CUDA they are copied from pinned memory without
            blocking the host.
        min_batch: a last batch with fewer samples than this is left out (batch normalization needs 2).
    """

    def __init__(
        self,
        split: BlockSplit,
        decode: Decode,
        batch_size: int | str,
        *,
        shuffle: Shuffle | bool = "exact",
        drop_last: bool = False,
        seed: int = 0,
        buffer_batches: int = 64,
        prefetch: int = 4,
        transform: BatchTransform | None = None,
        device: torch.device | str | None = None,
        min_batch: int = 1,
    ) -> None:
        self.split = split
        self.min_batch = min_batch
        self.decode = decode
        self._num_samples = split.num_rows
        self.batch_size = split.num_rows if batch_size == "full" else int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.mode: Shuffle = "exact" if shuffle is True else "none" if shuffle is False else shuffle
        self.shuffle = self.mode != "none"
        self.drop_last = drop_last and self.batch_size < self._num_samples
        self.seed = seed
        self.buffer_batches = max(1, buffer_batches)
        self.prefetch_depth = prefetch
        self.transform = transform
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._pin = self.device.type == "cuda"
        self._next_epoch = 0

    @property
    def num_samples(self) -> int:
        return self._num_samples

    def permutation(self, epoch: int) -> torch.Tensor:
        """Split positions in the order ``epoch`` serves them, ``(samples,)`` int64 (holds all: for tests)."""
        size, served = self.batch_size, []
        for positions in self._plan(epoch, 0, len(self) * size):
            for first in range(0, len(positions), size):
                batch = positions[first : first + size]
                served.append(batch if self.mode == "buffer" else batch[np.argsort(self.split.rows_at(batch))])
        return torch.from_numpy(np.concatenate(served))

    def plan(self, epoch: int) -> list[torch.Tensor]:
        """Split positions of each batch of ``epoch`` (reads nothing)."""
        order, size = self.permutation(epoch), self.batch_size
        return [order[i * size : (i + 1) * size] for i in range(len(self))]

    def gather(self, rows: torch.Tensor, epoch: int, index: int) -> Batch:
        """The batch of split positions ``rows``, read from disk now, on :attr:`device` and transformed."""
        positions = rows.cpu().numpy().astype(np.int64)
        store_rows = self.split.rows_at(positions)
        order = np.argsort(store_rows)
        x, y = self.decode(self.split.read(store_rows[order]))
        restore = np.argsort(order)  # back to the order of ``rows``
        xt, yt = self._tensors(np.asarray(x)[restore], np.asarray(y)[restore])
        batch = Batch(xt.to(self.device, non_blocking=self._pin), yt.to(self.device, non_blocking=self._pin))
        return self.transform(batch, epoch, index) if self.transform is not None and len(rows) else batch

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Yield batches ``start_batch, ..., len(self) - 1`` of ``epoch``."""
        batches = prefetch(self._produce(epoch, start_batch), self.prefetch_depth)
        try:
            for index, (x, y) in enumerate(batches, start=start_batch):
                batch = Batch(x.to(self.device, non_blocking=self._pin), y.to(self.device, non_blocking=self._pin))
                yield self.transform(batch, epoch, index) if self.transform is not None else batch
        finally:
            batches.close()  # type: ignore[attr-defined]

    # ---------------------------------------------------------------------------- the producer

    def _produce(self, epoch: int, start_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches as CPU tensors (pinned for CUDA), computed in the prefetch thread."""
        if self.mode == "buffer":
            yield from self._buffered(epoch, start_batch)
            return
        size = self.batch_size
        for positions in self._plan(epoch, start_batch * size, len(self) * size):
            for first in range(0, len(positions), size):
                rows = np.sort(self.split.rows_at(positions[first : first + size]))
                yield self._tensors(*self.decode(self.split.read(rows)))

    def _plan(self, epoch: int, start: int, stop: int) -> Iterator[np.ndarray]:
        """Split positions ``start:stop`` of ``epoch``'s order (exact or none), a chunk of batches at a time."""
        stop = min(stop, self.num_samples)
        if self.mode == "buffer":
            order = np.concatenate([positions for _, _, positions in self._windows(epoch, 0)])
            for first in range(start, stop, _ROWS_PER_PLAN):
                yield order[first : min(stop, first + _ROWS_PER_PLAN)]
            return
        bijection = Bijection(self.num_samples, epoch_seed(self.seed, epoch)) if self.mode == "exact" else None
        chunk = max(self.batch_size, _ROWS_PER_PLAN // self.batch_size * self.batch_size)
        for first in range(start, stop, chunk):
            positions = np.arange(first, min(stop, first + chunk), dtype=np.int64)
            yield bijection(positions) if bijection is not None else positions

    def _windows(self, epoch: int, first_window: int) -> Iterator[tuple[list[_Segment], np.ndarray, np.ndarray]]:
        """Buffer shuffle: ``(segments, shuffle, positions)`` per buffer, from buffer ``first_window`` on.

        ``segments`` lists the ``(block id, start, stop)`` row ranges to read, in order; ``shuffle``
        reorders the rows read (concatenated) into the buffer's order, whose split positions are
        ``positions``.
        """
        sizes, starts = self.split.sizes, self.split.starts
        order = np.random.default_rng(epoch_seed(self.seed, epoch)).permutation(len(sizes))
        stream_ends = np.cumsum(sizes[order])
        window = self.buffer_batches * self.batch_size
        for index in range(first_window, -(-self.num_samples // window)):
            lo, hi = index * window, min((index + 1) * window, self.num_samples)
            segments: list[_Segment] = []
            read: list[np.ndarray] = []
            k = int(np.searchsorted(stream_ends, lo, side="right"))
            while lo < hi:
                block, block_start = int(order[k]), int(stream_ends[k] - sizes[order[k]])
                start, stop = lo - block_start, min(hi, int(stream_ends[k])) - block_start
                segments.append((int(self.split.blocks[block]), start, stop))
                read.append(np.arange(starts[block] + start, starts[block] + stop, dtype=np.int64))
                lo, k = block_start + stop, k + 1
            generator = np.random.default_rng(epoch_seed(self.seed + 7919 * (index + 1), epoch))
            shuffle = generator.permutation(sum(len(r) for r in read))
            yield segments, shuffle, np.concatenate(read)[shuffle]

    def _buffered(self, epoch: int, start_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        size, per_window = self.batch_size, self.buffer_batches
        first_window = start_batch // per_window
        for index, (segments, shuffle, _) in enumerate(self._windows(epoch, first_window), start=first_window):
            parts = [self.split.read_block(block, start, stop) for block, start, stop in segments]
            x, y = self.decode(tuple(np.concatenate(column) for column in zip(*parts, strict=True)))
            x, y = x[shuffle], y[shuffle]
            for batch in range(max(start_batch, index * per_window), min(len(self), (index + 1) * per_window)):
                lo = (batch - index * per_window) * size
                yield self._tensors(x[lo : lo + size], y[lo : lo + size])

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
        if self._pin:
            return xt.pin_memory(), yt.pin_memory()
        return xt, yt

    def __repr__(self) -> str:
        return (
            f"StreamBatches(samples={self.num_samples}, batch_size={self.batch_size}, batches={len(self)}, "
            f"shuffle={self.mode!r}, drop_last={self.drop_last}, seed={self.seed})"
        )
