"""Streaming from disk: same batches from every store, bounded memory, seeded and resumable orders, prefetch."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from batchlab.config import DataConfig
from batchlab.data.permutation import Bijection
from batchlab.data.prefetch import prefetch
from batchlab.data.rows import ArrayRows, MemmapRows, NpyRows, open_rows
from batchlab.data.stream_data import StreamedSplit, prepare_stream
from batchlab.data.streaming import BlockSplit, StreamBatches
from batchlab.errors import DataError


def _decode(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    rows = parts[0]
    return np.asarray(rows[:, :-1], dtype=np.float32), np.asarray(rows[:, -1], dtype=np.int64)


def _table(n: int = 1000, d: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((n, d + 1)).astype(np.float32)
    table[:, -1] = np.arange(n)  # the "label" is the row number: batches show which rows they hold
    return table


def _stores(table: np.ndarray, folder: Path) -> dict[str, object]:
    """The same rows as an in-memory array, a .npy read by pread and by mmap, .npy and Parquet shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    np.save(folder / "all.npy", table)
    (folder / "npy").mkdir()
    (folder / "parquet").mkdir()
    cuts = [0, 137, 500, 501, len(table)]
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        np.save(folder / "npy" / f"part-{i}.npy", table[a:b])
        columns = {f"f{j}": table[a:b, j] for j in range(table.shape[1] - 1)} | {"label": table[a:b, -1]}
        pq.write_table(pa.table(columns), folder / "parquet" / f"part-{i}.parquet", row_group_size=64)
    return {
        "memory": ArrayRows(table),
        "pread": NpyRows(folder / "all.npy"),
        "mmap": MemmapRows(folder / "all.npy", release_every=3),
        "npy shards": open_rows(folder / "npy"),
        "parquet shards": open_rows(folder / "parquet"),
    }


def _epoch(batches: StreamBatches, epoch: int, start: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b.x.clone(), b.y.clone()) for b in batches.epoch(epoch, start_batch=start)]


@pytest.mark.parametrize("shuffle", ["exact", "buffer"])
def test_every_store_yields_the_same_batches_for_the_same_seed(tmp_path: Path, shuffle: str) -> None:
    table = _table()
    stores = _stores(table, tmp_path)
    reference = None
    for name, store in stores.items():
        batches = StreamBatches(BlockSplit.whole(store, block_rows=50), _decode, 64, shuffle=shuffle, seed=7)  # type: ignore[arg-type]
        got = _epoch(batches, 3)
        if reference is None:
            reference = got
            continue
        assert len(got) == len(reference), name
        for (x, y), (x_ref, y_ref) in zip(got, reference, strict=True):
            assert torch.equal(y, y_ref) and torch.equal(x, x_ref), name


@pytest.mark.parametrize("shuffle", ["exact", "buffer"])
def test_an_epoch_serves_every_row_once_in_a_seeded_order(shuffle: str) -> None:
    split = BlockSplit.whole(ArrayRows(_table(1000)), block_rows=64)
    batches = StreamBatches(split, _decode, 32, shuffle=shuffle, seed=1, buffer_batches=4)  # type: ignore[arg-type]
    first = torch.cat([y for _, y in _epoch(batches, 0)])
    assert sorted(first.tolist()) == list(range(1000)) and len(batches) == 32
    assert not torch.equal(first, torch.arange(1000))
    again = torch.cat([y for _, y in _epoch(batches, 0)])
    other = torch.cat([y for _, y in _epoch(batches, 1)])
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(batches.permutation(0), first)  # positions = rows here (one whole split)


@pytest.mark.parametrize("shuffle", ["exact", "buffer", "none"])
def test_an_epoch_resumes_at_any_batch(shuffle: str) -> None:
    split = BlockSplit.whole(ArrayRows(_table(500)), block_rows=32)
    batches = StreamBatches(split, _decode, 16, shuffle=shuffle, seed=2, buffer_batches=3)  # type: ignore[arg-type]
    whole = _epoch(batches, 4)
    for start in (1, 3, 7, len(batches) - 1):
        tail = _epoch(batches, 4, start)
        assert all(torch.equal(a[1], b[1]) for a, b in zip(tail, whole[start:], strict=True))


def test_drop_last_and_the_last_partial_batch() -> None:
    split = BlockSplit.whole(ArrayRows(_table(100)), block_rows=8)
    kept = StreamBatches(split, _decode, 32, seed=0)  # type: ignore[arg-type]
    dropped = StreamBatches(split, _decode, 32, seed=0, drop_last=True)  # type: ignore[arg-type]
    assert [len(b) for b in kept.epoch(0)] == [32, 32, 32, 4]
    assert [len(b) for b in dropped.epoch(0)] == [32, 32, 32]


def test_exact_shuffle_reads_each_batch_in_sorted_row_order(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", _table(300))
    store = NpyRows(tmp_path / "t.npy")
    batches = StreamBatches(BlockSplit.whole(store, block_rows=16), _decode, 25, seed=0, prefetch=0)  # type: ignore[arg-type]
    for y in (b.y for b in batches.epoch(0)):
        assert torch.equal(y, torch.sort(y).values)
    assert store.rows_read == 300 and store.reads == 300  # one positional read per row, nothing else


def test_the_bijection_is_a_seeded_permutation_with_an_inverse() -> None:
    for n in (1, 2, 5, 64, 1000, 4099):
        perm = Bijection(n, seed=11)
        rows = perm(np.arange(n))
        assert sorted(rows.tolist()) == list(range(n))
        assert np.array_equal(perm.inverse(rows), np.arange(n))
    assert not np.array_equal(Bijection(1000, 1)(np.arange(1000)), Bijection(1000, 2)(np.arange(1000)))
    big = Bijection(10**9, seed=0)(np.arange(5))
    assert big.max() < 10**9 and len(set(big.tolist())) == 5
    with pytest.raises(ValueError):
        Bijection(10, 0)(np.array([10]))


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
    batches = StreamBatches(BlockSplit.whole(store, block_rows=512), _decode, batch_size, seed=0)
    process = psutil.Process()
    before = peak = process.memory_info().rss
    seen = 0
    for index, y in enumerate(b.y for b in batches.epoch(0)):
        seen += len(y)
        if index % 8 == 0:
            peak = max(peak, process.memory_info().rss)
    assert seen == 32_768  # the whole 128 MiB file went through
    assert peak - before < 32 * 2**20  # the budget: a quarter of the file


def test_prefetch_stops_at_the_end_on_errors_and_when_the_consumer_stops() -> None:
    def threads() -> int:
        return sum(t.name == "batchlab-prefetch" for t in threading.enumerate())

    assert list(prefetch(iter(range(10)), depth=3)) == list(range(10))

    def failing() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetch(failing(), depth=2))

    produced: list[int] = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    items = prefetch(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # type: ignore[attr-defined]
    assert threads() == 0
    assert len(produced) <= 3 + 2 + 1  # stopped a few items ahead, not running on


def test_a_read_error_in_the_prefetch_thread_reaches_the_training_loop(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", _table(200))
    store = NpyRows(tmp_path / "t.npy")
    batches = StreamBatches(BlockSplit.whole(store, block_rows=16), _decode, 10, seed=0)  # type: ignore[arg-type]
    iterator = batches.epoch(0)
    next(iterator)
    store.close()  # the file is gone under the reader
    with pytest.raises(OSError):
        list(iterator)
    assert not any(t.name == "batchlab-prefetch" for t in threading.enumerate())


def _write_dataset(tmp_path: Path, n: int = 3000) -> Path:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 5)).astype(np.float32) * 3 + 1
    y = (x[:, 0] + x[:, 1] > 2).astype(np.float32) + (x[:, 2] > 1)
    path = tmp_path / "data.npy"
    np.save(path, np.column_stack([x, y]))
    return path


def test_prepare_stream_splits_blocks_and_fits_the_scaler_on_training_rows(tmp_path: Path) -> None:
    path = _write_dataset(tmp_path)
    cfg = DataConfig(source=str(path), stream={"enabled": True, "block_rows": 100})  # type: ignore[arg-type]
    data = prepare_stream(cfg)
    assert isinstance(data.train, StreamedSplit) and data.val is not None and data.test is not None
    blocks = [data.train.rows.blocks, data.val.rows.blocks, data.test.rows.blocks]  # type: ignore[attr-defined]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(30))
    assert len(data.train) + len(data.val) + len(data.test) == 3000
    assert data.task == "classification" and data.classes == ["0", "1", "2"] and data.input_shape == (5,)
    table = np.load(path)
    rows = data.train.rows.rows_at(np.arange(len(data.train)))  # type: ignore[attr-defined]
    train = table[rows, :-1].astype(np.float64)
    scaler = data.preprocessor.features_
    assert np.allclose(scaler.center_, train.mean(axis=0)) and np.allclose(scaler.scale_, train.std(axis=0))
    with pytest.raises(DataError, match="streamed from disk"):
        _ = data.train.x


def test_streamed_training_is_the_same_whichever_reader_serves_the_rows(tmp_path: Path) -> None:
    import batchlab

    path = _write_dataset(tmp_path)
    config = {
        "data": {"source": str(path), "stream": {"enabled": True, "block_rows": 100, "reader": "pread"}},
        "model": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 64, "device": "cpu"},
    }
    first = batchlab.fit(config, run_dir=tmp_path / "a", progress=False, plots=False)
    config["data"]["stream"]["reader"] = "mmap"  # type: ignore[index]
    second = batchlab.fit(config, run_dir=tmp_path / "b", progress=False, plots=False)
    metrics = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
    assert [[r[k] for k in metrics] for r in first.history] == [[r[k] for k in metrics] for r in second.history]
    assert first.history[-1]["val_accuracy"] > 0.8
    assert first.test_metrics is not None and first.test_metrics == second.test_metrics
    assert batchlab.evaluate(first.run_dir)["accuracy"] == first.test_metrics["accuracy"]


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
