"""The examples in the stream modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["batches", "bijection", "prefetch"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(f"batchlab.data.stream.{name}"))
    assert result.failed == 0 and result.attempted > 0
