"""The reader thread: it stops at the end, on errors and when the consumer stops; read errors reach the loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from batchlab.data.stream.batches import BlockSplit, StreamBatches
from batchlab.data.stream.prefetch import prefetch
from batchlab.data.stream.rows import NpyRows
from tests.data.stream.numbered import decode, numbered_table


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
    np.save(tmp_path / "t.npy", numbered_table(200))
    store = NpyRows(tmp_path / "t.npy")
    batches = StreamBatches(BlockSplit.whole(store, block_rows=16), decode, 10, seed=0)  # type: ignore[arg-type]
    iterator = batches.epoch(0)
    next(iterator)
    store.close()  # the file is gone under the reader
    with pytest.raises(OSError):
        list(iterator)
    assert not any(t.name == "batchlab-prefetch" for t in threading.enumerate())
