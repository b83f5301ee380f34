"""Batch sizes of a study: parse ``1,8,32,full`` and ranges such as ``2^0..2^12``; clip to the training set.

A size is a positive integer (samples per batch) or ``"full"`` (one batch holding the whole training split:
batch gradient descent). A range ``b^i..b^j`` is every power of ``b`` from ``b^i`` to ``b^j``.

>>> parse_sizes("1,8,32,full")
[1, 8, 32, 'full']
>>> parse_sizes("2^0..2^3, 100")
[1, 2, 4, 8, 100]
>>> [s.label for s in resolve_sizes(parse_sizes("2^9..2^12"), train_samples=1257)]
['512', '1024', 'full']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from batchlab.errors import ConfigError

__all__ = ["BatchSize", "SizeSpec", "parse_sizes", "resolve_sizes"]

SizeSpec = int | Literal["full"]

_RANGE = re.compile(r"^(\d+)\^(\d+)\.\.(\d+)\^(\d+)$")
_POWER = re.compile(r"^(\d+)\^(\d+)$")
_MAX_RANGE_SIZES = 64


@dataclass(frozen=True, order=True)
class BatchSize:
    """One batch size of a study, resolved against the training split.

    Attributes:
        samples: samples per batch (the training split's size for ``full``).
        full: whether this is the whole training split (batch gradient descent).
    """

    samples: int
    full: bool = False

    @property
    def label(self) -> str:
        """``full`` or the number of samples, as used in cell names (``b32-s0``, ``bfull-s0``)."""
        return "full" if self.full else str(self.samples)

    @property
    def spec(self) -> SizeSpec:
        """The value of ``train.batch_size`` for this size."""
        return "full" if self.full else self.samples


def parse_sizes(text: str) -> list[SizeSpec]:
    """Parse a comma-separated list of sizes: integers, ``full``, powers ``2^5`` and ranges ``2^0..2^12``.

    Args:
        text: e.g. ``"1,8,32,128,512,full"`` or ``"2^0..2^12"``.

    Returns:
        The sizes in the order given, ranges expanded, duplicates removed.

    Raises:
        ConfigError: a token is not a size or range (the message names it).
    """
    sizes: list[SizeSpec] = []
    tokens = [t.strip() for t in text.split(",")]
    if not any(tokens):
        raise ConfigError("--sizes: expected batch sizes such as 1,8,32,full or 2^0..2^12, got nothing")
    for token in tokens:
        for size in _parse_token(token):
            if size not in sizes:
                sizes.append(size)
    return sizes


def _parse_token(token: str) -> list[SizeSpec]:
    low = token.lower()
    if low == "full":
        return ["full"]
    if low.isdigit():
        value = int(low)
        if value < 1:
            raise ConfigError(f"--sizes: batch sizes must be positive integers or full, got {token!r}")
        return [value]
    power = _POWER.match(low)
    if power:
        return [int(power.group(1)) ** int(power.group(2))]
    match = _RANGE.match(low)
    if match:
        base, first, base2, last = (int(g) for g in match.groups())
        if base != base2 or base < 2:
            raise ConfigError(
                f"--sizes: a range needs one base of at least 2 on both ends, e.g. 2^0..2^12, got {token!r}"
            )
        if last < first:
            raise ConfigError(f"--sizes: range {token!r} runs backwards; write the smaller power first")
        if last - first + 1 > _MAX_RANGE_SIZES:
            raise ConfigError(f"--sizes: range {token!r} has more than {_MAX_RANGE_SIZES} sizes")
        return [base**k for k in range(first, last + 1)]
    raise ConfigError(
        f"--sizes: {token!r} is not a batch size; expected positive integers, full, powers such as 2^5 "
        "or ranges such as 2^0..2^12, separated by commas"
    )


def resolve_sizes(sizes: Iterable[SizeSpec], train_samples: int) -> list[BatchSize]:
    """Sizes in samples, clipped to the training split, sorted and without duplicates.

    A size at or above ``train_samples`` becomes ``full`` (every sample in one batch), so a range such
    as ``2^0..2^12`` on 1,257 training samples ends with ``full`` instead of 2,048 and 4,096.

    Args:
        sizes: integers and ``"full"``.
        train_samples: samples in the training split, ``N``.
    """
    if train_samples < 1:
        raise ConfigError("the training split is empty; a batch-size study needs training samples")
    resolved = set()
    for size in sizes:
        if size == "full" or size >= train_samples:
            resolved.add(BatchSize(train_samples, full=True))
        else:
            resolved.add(BatchSize(int(size)))
    return sorted(resolved)
