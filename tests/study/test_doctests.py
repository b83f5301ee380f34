"""The examples in the study modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["sizes", "budget", "targets", "critical", "max_batch"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"batchlab.study.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
