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


def test_token_budgets_parse_as_lists_powers_and_ranges() -> None:
    assert parse_sizes("512tokens,2048tokens,8192tokens") == ["512tokens", "2048tokens", "8192tokens"]
    assert parse_sizes("2^9..2^13tokens") == [f"{2**k}tokens" for k in range(9, 14)]
    assert parse_sizes("2^9tokens..2^11tokens") == ["512tokens", "1024tokens", "2048tokens"]
    assert parse_sizes("4096 tokens, 2^10TOKENS, 1token") == ["4096tokens", "1024tokens", "1tokens"]


def test_full_goes_with_either_unit() -> None:
    assert parse_sizes("512tokens,full") == ["512tokens", "full"]
    assert parse_sizes("full,8") == ["full", 8]


def test_mixing_samples_and_tokens_is_a_one_line_error() -> None:
    with pytest.raises(
        ConfigError, match=r"--sizes: a study is in one unit.*8, 32 are samples.*512tokens are tokens"
    ) as info:
        parse_sizes("8,512tokens,32")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["tokens", "0tokens", "2^5..2^1tokens", "2^3..3^4tokens", "12.5tokens", "512toks"])
def test_bad_token_budgets_are_one_line_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--sizes") as info:
        parse_sizes(text)
    assert "\n" not in str(info.value)


def test_token_budgets_holding_the_whole_split_become_full() -> None:
    resolved = resolve_sizes(parse_sizes("2^9..2^12tokens,full"), train_samples=300, full_tokens=2000)
    assert [s.label for s in resolved] == ["512tokens", "1024tokens", "full"]
    assert [s.spec for s in resolved] == ["512tokens", "1024tokens", "full"]
    assert resolved[-1] == BatchSize(2000, full=True, unit="tokens")
    assert resolved[0].tokens == 512 and resolved[0].unit == "tokens"
    with pytest.raises(ValueError, match="token budget"):
        _ = resolved[0].samples


def test_token_budgets_on_data_without_tokens_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"--sizes: token budgets \(512tokens\) apply to text data"):
        resolve_sizes(["512tokens"], train_samples=300, full_tokens=None)


def test_schedule_cells_take_their_bounds_from_the_fixed_sizes() -> None:
    sizes = resolve_sizes(parse_sizes("8,32,512,ramp,adaptive:16-1024,step"), train_samples=1000)
    assert [s.label for s in sizes] == ["8", "32", "512", "ramp8-512", "adaptive16-1000", "step8-512"]
    ramp = sizes[3]
    assert ramp.is_schedule and ramp.spec == 8 and ramp.value == 512 and not sizes[0].is_schedule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("32,ramp", "takes its bounds from the fixed sizes"),
        ("ramp:64-32", "must grow from a positive size"),
        ("512tokens,ramp", "cannot join a study in tokens"),
        ("32,128,rampage", "is not a batch size"),
    ],
)
def test_schedule_cell_mistakes(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_sizes(parse_sizes(text), train_samples=1000)
