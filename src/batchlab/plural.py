"""Counts in sentences for people: ``1 batch``, ``2 batches``, ``1,000 steps``.

>>> counted(1, "batch"), counted(40, "batch"), counted(1, "seed"), counted(1200, "step")
('1 batch', '40 batches', '1 seed', '1,200 steps')
>>> counted(3, "child", "children")
'3 children'
"""

from __future__ import annotations

__all__ = ["counted", "plural"]


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``noun`` for a count of one, else ``many`` (default: ``noun`` + ``es`` after s, x, z, ch, sh, else ``s``)."""
    if count == 1:
        return noun
    if many is not None:
        return many
    return noun + ("es" if noun.endswith(("s", "x", "z", "ch", "sh")) else "s")


def counted(count: int, noun: str, many: str | None = None) -> str:
    """``count`` (with thousands separators) followed by the singular or plural of ``noun``."""
    return f"{count:,} {plural(count, noun, many)}"
