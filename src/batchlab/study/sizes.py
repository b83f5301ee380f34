"""Batch sizes of a study: parse ``1,8,32,full``, ``512tokens`` and ranges such as ``2^0..2^12`` or
``2^9..2^13tokens``; clip them to the training split.

A size is a positive integer (samples per batch), ``"full"`` (one batch holding the whole training split:
batch gradient descent), or a **token budget** ``<n>tokens`` (text only: each batch holds as many samples
as fit in ``n`` padded tokens, see ``train.batch_size``). A range ``b^i..b^j`` is every power of ``b`` from
``b^i`` to ``b^j``; ``tokens`` after a number, a power or a range makes it a token budget
(``2^9..2^13tokens`` and ``2^9tokens..2^13tokens`` are the same five budgets). A study is in one unit:
samples or tokens (``full`` goes with either).

>>> parse_sizes("1,8,32,full")
[1, 8, 32, 'full']
>>> parse_sizes("2^0..2^3, 100")
[1, 2, 4, 8, 100]
>>> parse_sizes("2^9..2^11tokens, 4096 tokens")
['512tokens', '1024tokens', '2048tokens', '4096tokens']
>>> [s.label for s in resolve_sizes(parse_sizes("2^9..2^12"), train_samples=1257)]
['512', '1024', 'full']
>>> [s.label for s in resolve_sizes(parse_sizes("512tokens,2^12tokens"), 1257, full_tokens=3000)]
['512tokens', 'full']
>>> [s.label for s in resolve_sizes(parse_sizes("32,128,512,ramp,adaptive:16-1024"), train_samples=1257)]
['32', '128', '512', 'ramp32-512', 'adaptive16-1024']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from batchlab.errors import ConfigError

__all__ = ["BatchSize", "SizeSpec", "SizeUnit", "parse_sizes", "resolve_sizes", "size_unit"]

SizeSpec = int | str
"""A value of ``train.batch_size``: samples (``int``), ``"full"``, or a token budget such as ``"512tokens"``."""

SizeUnit = Literal["samples", "tokens"]

_RANGE = re.compile(r"^(\d+)\^(\d+)(?:tokens?)?\.\.(\d+)\^(\d+)$")
_POWER = re.compile(r"^(\d+)\^(\d+)$")
_TOKENS = re.compile(r"^(.*?)\s*tokens?$")
_MAX_RANGE_SIZES = 64
_SCHEDULE = re.compile(r"^(ramp|adaptive|step)(?::(\d+)-(\d+))?$")
"""A schedule cell: ``ramp``, ``adaptive`` or ``step``, optionally ``:start-end`` (default: the study's
smallest and largest fixed sizes)."""


@dataclass(frozen=True, order=True)
class BatchSize:
    """One batch size of a study, resolved against the training split.

    Attributes:
        value: samples per batch, or padded tokens per batch for a token budget (for ``full``: the whole
            training split, in samples or in padded tokens).
        full: whether this is the whole training split in one batch (batch gradient descent).
        unit: ``samples`` or ``tokens``.
    """

    value: int
    full: bool = False
    unit: SizeUnit = "samples"
    schedule: str = ""
    start: int = 0

    @property
    def is_schedule(self) -> bool:
        """A batch-size schedule (``ramp``, ``adaptive``, ``step``) from ``start`` up to ``value`` samples."""
        return bool(self.schedule)

    @property
    def samples(self) -> int:
        """Samples per batch (a batch size in samples only).

        Raises:
            ValueError: a token budget, which has no fixed number of samples.
        """
        if self.unit != "samples":
            raise ValueError(f"{self.label} is a token budget, not a number of samples")
        return self.value

    @property
    def tokens(self) -> int | None:
        """Padded tokens per batch of a token budget (``None`` for a size in samples)."""
        return self.value if self.unit == "tokens" else None

    @property
    def label(self) -> str:
        """``full``, the number of samples or ``<n>tokens``, as in cell names (``b32-s0``, ``b512tokens-s0``)."""
        if self.schedule:
            return f"{self.schedule}{self.start}-{self.value}"
        if self.full:
            return "full"
        return f"{self.value}tokens" if self.unit == "tokens" else str(self.value)

    @property
    def spec(self) -> SizeSpec:
        """The value of ``train.batch_size`` for this size (a schedule's first size)."""
        if self.schedule:
            return self.start
        return "full" if self.full else self.label if self.unit == "tokens" else self.value


def parse_sizes(text: str) -> list[SizeSpec]:
    """Parse a comma-separated list of sizes: integers, ``full``, powers ``2^5``, ranges ``2^0..2^12``, and
    the same followed by ``tokens`` (``512tokens``, ``2^9..2^13tokens``).

    Args:
        text: e.g. ``"1,8,32,128,512,full"``, ``"2^0..2^12"`` or ``"512tokens,2048tokens,8192tokens"``.

    Returns:
        The sizes in the order given, ranges expanded, duplicates removed: integers (samples), ``"full"``
        and ``"<n>tokens"`` strings.

    Raises:
        ConfigError: a token is not a size or range, or the list mixes samples and tokens (the message
            names them).
    """
    sizes: list[SizeSpec] = []
    tokens = [t.strip() for t in text.split(",")]
    if not any(tokens):
        raise ConfigError("--sizes: expected batch sizes such as 1,8,32,full or 2^0..2^12, got nothing")
    for token in tokens:
        for size in _parse_token(token):
            if size not in sizes:
                sizes.append(size)
    size_unit(sizes)
    return sizes


def size_unit(sizes: Sequence[SizeSpec]) -> SizeUnit:
    """The one unit of a study's sizes: ``tokens`` when they are token budgets, else ``samples``.

    Raises:
        ConfigError: samples and token budgets mixed (``full`` goes with either).
    """
    counts = [str(s) for s in sizes if isinstance(s, int)]
    budgets = [s for s in sizes if isinstance(s, str) and s != "full" and not _SCHEDULE.match(s)]
    schedules = [s for s in sizes if isinstance(s, str) and _SCHEDULE.match(s)]
    if budgets and schedules:
        raise ConfigError(
            f"--sizes: batch-size schedules ({', '.join(schedules)}) count samples; they cannot join a study in tokens"
        )
    if counts and budgets:
        raise ConfigError(
            f"--sizes: a study is in one unit, but {', '.join(counts)} are samples and {', '.join(budgets)} "
            "are tokens; give every size in samples or every size in tokens (e.g. 512tokens,2048tokens)"
        )
    return "tokens" if budgets else "samples"


def _parse_token(token: str) -> list[SizeSpec]:
    low = token.lower().replace(" ", "")
    if low == "full":
        return ["full"]
    schedule = _SCHEDULE.match(low)
    if schedule:
        start, end = schedule.group(2), schedule.group(3)
        if start is not None and (int(start) < 1 or int(end) < int(start)):
            raise ConfigError(f"--sizes: {token!r} must grow from a positive size: ramp:32-512, adaptive:16-1024")
        return [low]
    budget = _TOKENS.match(low)
    if budget:
        counts = _parse_count(budget.group(1), token)
        return [f"{n}tokens" for n in counts]
    return list(_parse_count(low, token))


def _parse_count(low: str, token: str) -> list[int]:
    if low.isdigit():
        value = int(low)
        if value < 1:
            raise ConfigError(f"--sizes: batch sizes must be positive, got {token!r}")
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
        f"--sizes: {token!r} is not a batch size; expected positive integers, full, powers such as 2^5, "
        "ranges such as 2^0..2^12, or any of these followed by tokens (512tokens, 2^9..2^13tokens), "
        "separated by commas"
    )


def resolve_sizes(sizes: Iterable[SizeSpec], train_samples: int, *, full_tokens: int | None = None) -> list[BatchSize]:
    """Sizes clipped to the training split, sorted and without duplicates.

    A size in samples at or above ``train_samples`` becomes ``full`` (every sample in one batch), so a
    range such as ``2^0..2^12`` on 1,257 training samples ends with ``full`` instead of 2,048 and 4,096.
    A token budget at or above ``full_tokens`` (the padded tokens of the whole split as one batch) holds
    the whole split in one batch too, and becomes ``full``.

    Args:
        sizes: integers, ``"full"`` and ``"<n>tokens"`` (one unit; see :func:`size_unit`).
        train_samples: samples in the training split, ``N`` (windows for a language model).
        full_tokens: padded tokens of one batch holding the whole training split (text only); ``None``
            when the data has no tokens.

    Raises:
        ConfigError: an empty training split, mixed units, or token budgets without ``full_tokens``.
    """
    sizes = list(sizes)
    if train_samples < 1:
        raise ConfigError("the training split is empty; a batch-size study needs training samples")
    unit = size_unit(sizes)
    if unit == "tokens" and full_tokens is None:
        budgets = ", ".join(str(s) for s in sizes if s != "full")
        raise ConfigError(
            f"--sizes: token budgets ({budgets}) apply to text data; this data has fixed-size samples: "
            "give batch sizes in samples (e.g. 8,32,128,full)"
        )
    if full_tokens is not None and unit == "tokens":
        return sorted({_token_size(size, full_tokens) for size in sizes})
    resolved = set()
    for size in sizes:
        if isinstance(size, str) and _SCHEDULE.match(size):
            continue
        if size == "full" or int(size) >= train_samples:
            resolved.add(BatchSize(train_samples, full=True))
        else:
            resolved.add(BatchSize(int(size)))
    fixed = sorted(resolved)
    return fixed + _schedule_sizes(sizes, fixed, train_samples)


def _schedule_sizes(sizes: list[SizeSpec], fixed: list[BatchSize], train_samples: int) -> list[BatchSize]:
    """The schedule cells, their bounds given or taken from the smallest and largest fixed sizes."""
    schedules = []
    for size in sizes:
        match = _SCHEDULE.match(str(size))
        if not match:
            continue
        kind, start, end = match.group(1), match.group(2), match.group(3)
        if start is None:
            numbers = [s.value for s in fixed if not s.full] or [s.value for s in fixed]
            if len(numbers) < 2:
                raise ConfigError(
                    f"--sizes: {size} takes its bounds from the fixed sizes of the study; give two or more "
                    f"(e.g. 32,512,{size}) or bounds ({kind}:32-512)"
                )
            start, end = min(numbers), max(numbers)
        schedules.append(BatchSize(min(int(end), train_samples), schedule=kind, start=int(start)))
    return list(dict.fromkeys(schedules))


def _token_size(size: SizeSpec, full_tokens: int) -> BatchSize:
    budget = full_tokens if size == "full" else int(str(size).removesuffix("tokens"))
    if budget >= full_tokens:
        return BatchSize(full_tokens, full=True, unit="tokens")
    return BatchSize(budget, unit="tokens")
