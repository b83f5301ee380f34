"""Counts in messages: singular for one, plural otherwise."""

from __future__ import annotations

import pytest

from batchlab.plural import counted, plural


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "batch", "0 batches"),
        (1, "batch", "1 batch"),
        (2, "batch", "2 batches"),
        (1, "seed", "1 seed"),
        (3, "seed", "3 seeds"),
        (1200, "step", "1,200 steps"),
        (1, "finished run", "1 finished run"),
        (2, "index", "2 indexes"),
    ],
)
def test_counted_agrees_with_the_count(count: int, noun: str, expected: str) -> None:
    assert counted(count, noun) == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(1, "child", "children") == "child" and counted(2, "child", "children") == "2 children"


def test_the_docstring_examples_hold() -> None:
    import doctest

    import batchlab.plural

    result = doctest.testmod(batchlab.plural)
    assert result.failed == 0 and result.attempted > 0
