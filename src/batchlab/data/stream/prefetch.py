"""A background thread that runs an iterator ahead of its consumer, a bounded number of items deep.

Reading rows from disk releases the GIL during each system call, and torch releases it inside its
kernels, so a reader thread overlaps disk reads with the training step. The thread stops cleanly in
every case: at the end of the source (the consumer then sees ``StopIteration``), on an error in the
source (re-raised in the consumer, with its traceback), and when the consumer stops early (closing
the iterator, e.g. ``break`` out of a ``for`` loop, or dropping it), after which the thread finishes
its current item and exits.

Example:
    >>> list(prefetch(iter(range(5)), depth=2))
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")

_POLL_SECONDS = 0.1


class _End:
    """The source is exhausted."""


class _Failed:
    """The source raised ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(source: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Iterate ``source`` in a daemon thread, at most ``depth`` items ahead; ``depth < 1`` does not.

    Args:
        source: any iterator; it runs in the background thread, so it must not touch state the
            consumer changes meanwhile.
        depth: items produced ahead of the consumer (each one is held in memory until consumed).

    Yields:
        The items of ``source`` in order.
    """
    if depth < 1:
        yield from source
        return
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(source, items, stop), name="batchlab-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue, then wait for it
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(_POLL_SECONDS)


def _produce(source: Iterator[object], items: queue.Queue[object], stop: threading.Event) -> None:
    try:
        for item in source:
            if not _put(items, item, stop):
                return
        _put(items, _End(), stop)
    except BaseException as error:  # handed to the consumer, which re-raises it
        _put(items, _Failed(error), stop)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _put(items: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put ``item``, giving up when the consumer has stopped; ``True`` when it was queued."""
    while not stop.is_set():
        try:
            items.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False
