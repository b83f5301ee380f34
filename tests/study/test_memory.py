"""Peak memory of a piece of work, and memory sizes on the command line."""

from __future__ import annotations

import pytest
import torch

from batchlab.errors import ConfigError
from batchlab.study.memory import measure_peak, parse_memory


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GB", 4 * 10**9), ("4G", 4 * 10**9), ("1.5GiB", int(1.5 * 2**30)), ("512 MiB", 512 * 2**20), ("1000", 1000)],
)
def test_memory_sizes(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["lots", "-1GB", "4 parsecs", "0"])
def test_bad_memory_sizes_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--memory"):
        parse_memory(text)


def test_a_freed_allocation_still_shows_in_the_peak() -> None:
    with measure_peak() as probe:
        block = torch.ones(25_000_000)  # 100 MB, freed before the measurement ends
        del block
    result = probe.result
    assert result is not None
    if not result.exact:
        pytest.skip("this system cannot reset the RSS high-water mark (/proc/self/clear_refs)")
    assert result.growth >= 90_000_000
    with measure_peak() as small:
        torch.ones(1000)
    assert small.result is not None and small.result.growth < 20_000_000
