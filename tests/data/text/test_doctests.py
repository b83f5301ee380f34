"""The examples in the docstrings of batchlab.data.text run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["tokenizer", "char", "word", "corpus", "preprocessors", "detect", "table", "prepare"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"batchlab.data.text.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0
