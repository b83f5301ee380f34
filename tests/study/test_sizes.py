"""Batch sizes of a study: lists, powers, ranges, full, clipping to the training split."""

from __future__ import annotations

import pytest

from batchlab.errors import ConfigError
from batchlab.study.sizes import BatchSize, parse_sizes, resolve_sizes


def test_a_list_keeps_its_order_and_full() -> None:
    assert parse_sizes("1,8,32,128,512,full") == [1, 8, 32, 128, 512, "full"]


def test_a_range_of_powers_expands_every_power() -> None:
    assert parse_sizes("2^0..2^4") == [1, 2, 4, 8, 16]
    assert parse_sizes("4^1..4^3, 2^3, FULL") == [4, 16, 64, 8, "full"]


def test_duplicates_are_removed() -> None:
    assert parse_sizes("8,2^3,8") == [8]


@pytest.mark.parametrize("text", ["0", "-4", "abc", "2^3..3^4", "2^5..2^1", "", "1.5", "2^0..2^100"])
def test_bad_sizes_are_one_line_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--sizes"):
        parse_sizes(text)


def test_sizes_at_or_above_the_training_split_become_full() -> None:
    resolved = resolve_sizes(parse_sizes("2^0..2^12"), train_samples=1257)
    assert [s.label for s in resolved][-3:] == ["512", "1024", "full"]
    assert resolved[-1] == BatchSize(1257, full=True)
    assert resolve_sizes([1257, "full", 5000], 1257) == [BatchSize(1257, full=True)]


def test_resolved_sizes_are_sorted_with_their_config_value() -> None:
    resolved = resolve_sizes(["full", 32, 1], 100)
    assert [s.spec for s in resolved] == [1, 32, "full"]
    assert [s.samples for s in resolved] == [1, 32, 100]
