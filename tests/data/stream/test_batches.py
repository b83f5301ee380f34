"""Streamed mini-batches: the same batches from every store, seeded and resumable orders, drop_last,
sorted reads, bounded memory on a file larger than the budget, validation sums equal to in-memory metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from batchlab.data.stream.batches import BlockSplit, StreamBatches
from batchlab.data.stream.rows import ArrayRows, NpyRows, open_rows
from tests.data.stream.numbered import decode, every_store, numbered_table


def _epoch(batches: StreamBatches, epoch: int, start: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b.x.clone(), b.y.clone()) for b in batches.epoch(epoch, start_batch=start)]


@pytest.mark.parametrize("shuffle", ["exact", "buffer"])
def test_every_store_yields_the_same_batches_for_the_same_seed(tmp_path: Path, shuffle: str) -> None:
    table = numbered_table()
    stores = every_store(table, tmp_path)
    reference = None
    for name, store in stores.items():
        batches = StreamBatches(BlockSplit.whole(store, block_rows=50), decode, 64, shuffle=shuffle, seed=7)  # type: ignore[arg-type]
        got = _epoch(batches, 3)
        if reference is None:
            reference = got
            continue
        assert len(got) == len(reference), name
        for (x, y), (x_ref, y_ref) in zip(got, reference, strict=True):
            assert torch.equal(y, y_ref) and torch.equal(x, x_ref), name


@pytest.mark.parametrize("shuffle", ["exact", "buffer"])
def test_an_epoch_serves_every_row_once_in_a_seeded_order(shuffle: str) -> None:
    split = BlockSplit.whole(ArrayRows(numbered_table(1000)), block_rows=64)
    batches = StreamBatches(split, decode, 32, shuffle=shuffle, seed=1, buffer_batches=4)  # type: ignore[arg-type]
    first = torch.cat([y for _, y in _epoch(batches, 0)])
    assert sorted(first.tolist()) == list(range(1000)) and len(batches) == 32
    assert not torch.equal(first, torch.arange(1000))
    again = torch.cat([y for _, y in _epoch(batches, 0)])
    other = torch.cat([y for _, y in _epoch(batches, 1)])
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(batches.permutation(0), first)  # positions = rows here (one whole split)


@pytest.mark.parametrize("shuffle", ["exact", "buffer", "none"])
def test_an_epoch_resumes_at_any_batch(shuffle: str) -> None:
    split = BlockSplit.whole(ArrayRows(numbered_table(500)), block_rows=32)
    batches = StreamBatches(split, decode, 16, shuffle=shuffle, seed=2, buffer_batches=3)  # type: ignore[arg-type]
    whole = _epoch(batches, 4)
    for start in (1, 3, 7, len(batches) - 1):
        tail = _epoch(batches, 4, start)
        assert all(torch.equal(a[1], b[1]) for a, b in zip(tail, whole[start:], strict=True))


def test_drop_last_and_the_last_partial_batch() -> None:
    split = BlockSplit.whole(ArrayRows(numbered_table(100)), block_rows=8)
    kept = StreamBatches(split, decode, 32, seed=0)  # type: ignore[arg-type]
    dropped = StreamBatches(split, decode, 32, seed=0, drop_last=True)  # type: ignore[arg-type]
    assert [len(b) for b in kept.epoch(0)] == [32, 32, 32, 4]
    assert [len(b) for b in dropped.epoch(0)] == [32, 32, 32]


def test_exact_shuffle_reads_each_batch_in_sorted_row_order(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", numbered_table(300))
    store = NpyRows(tmp_path / "t.npy")
    batches = StreamBatches(BlockSplit.whole(store, block_rows=16), decode, 25, seed=0, prefetch=0)  # type: ignore[arg-type]
    for y in (b.y for b in batches.epoch(0)):
        assert torch.equal(y, torch.sort(y).values)
    assert store.rows_read == 300 and store.reads == 300  # one positional read per row, nothing else


def _big_file(tmp_path: Path, rows: int = 32_768, width: int = 1024) -> Path:
    """A 128 MiB file of 4 KiB rows (one page each): several times the iteration's memory budget."""
    path = tmp_path / "big.npy"
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, width))
    for start in range(0, rows, 4096):
        block = np.zeros((min(4096, rows - start), width), dtype=np.float32)
        block[:, -1] = np.arange(start, start + len(block))
        array[start : start + len(block)] = block
    array.flush()
    del array
    return path


# A memory map releases its pages after each read, but a read may map a whole large folio (up to 2 MiB)
# per row on recent kernels: its batches are kept small so that one read stays well inside the budget.
@pytest.mark.parametrize(("reader", "batch_size"), [("pread", 64), ("mmap", 8)])
def test_iterating_a_file_larger_than_the_budget_keeps_memory_bounded(
    tmp_path: Path, reader: str, batch_size: int
) -> None:
    psutil = pytest.importorskip("psutil")
    path = _big_file(tmp_path)
    store = open_rows(path, reader=reader)
    batches = StreamBatches(BlockSplit.whole(store, block_rows=512), decode, batch_size, seed=0)
    process = psutil.Process()
    before = peak = process.memory_info().rss
    seen = 0
    for index, y in enumerate(b.y for b in batches.epoch(0)):
        seen += len(y)
        if index % 8 == 0:
            peak = max(peak, process.memory_info().rss)
    assert seen == 32_768  # the whole 128 MiB file went through
    assert peak - before < 32 * 2**20  # the budget: a quarter of the file


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_streamed_validation_sums_match_the_in_memory_metrics(task: str) -> None:
    from batchlab.data.batching import MiniBatches
    from batchlab.train.loop import validation_metrics
    from batchlab.train.objective import make_objective

    torch.manual_seed(0)
    x = torch.randn(1000, 4)
    y = torch.randint(0, 3, (1000,)) if task == "classification" else torch.randn(1000)
    outputs = 3 if task == "classification" else 1
    model = torch.nn.Linear(4, outputs)
    objective = make_objective(task, outputs, target_mean=2.0, target_std=3.0)  # type: ignore[arg-type]
    table = np.column_stack([x.numpy(), y.numpy()])

    def decode(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        rows = parts[0]
        target = rows[:, -1].astype(np.int64 if task == "classification" else np.float32)
        return np.asarray(rows[:, :-1], dtype=np.float32), target

    streamed = StreamBatches(BlockSplit.whole(ArrayRows(table), block_rows=100), decode, 64, shuffle=False)
    in_memory = validation_metrics(model, MiniBatches(x, y, 1000, shuffle=False), objective)
    summed = validation_metrics(model, streamed, objective)
    assert summed.keys() == in_memory.keys()
    assert all(summed[k] == pytest.approx(in_memory[k], rel=1e-6) for k in summed)
