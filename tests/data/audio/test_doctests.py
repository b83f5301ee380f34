"""The examples in the audio modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["reading", "features", "augment", "transform", "preprocessor"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"batchlab.data.audio.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_group_split_examples() -> None:
    result = doctest.testmod(importlib.import_module("batchlab.data.split"))
    assert result.failed == 0 and result.attempted >= 4
