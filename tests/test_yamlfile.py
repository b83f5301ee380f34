"""YAML written by people: duplicate keys, depth, alias bombs and size are one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from batchlab.errors import ConfigError
from batchlab.yamlfile import MAX_BYTES, MAX_DEPTH, parse_yaml, read_yaml


def test_floats_in_exponent_form_are_floats() -> None:
    assert parse_yaml("lr: 1e-4", "x") == {"lr": 1e-4}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\na: 2\n", "a is given twice (line 2)"),
        ("train:\n  epochs: 1\n  lr: 2\n  epochs: 3\n", "train.epochs is given twice (line 4)"),
        ("data: {split: {val: 0.1, val: 0.2}}\n", "data.split.val is given twice"),
    ],
)
def test_a_key_given_twice_is_an_error_naming_its_path(text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(where)):
        parse_yaml(text, "config file 'c.yaml'")


def test_the_same_key_in_sibling_mappings_is_fine() -> None:
    assert parse_yaml("a: {x: 1}\nb: {x: 2}\nc: [{x: 1}, {x: 2}]\n", "x")["b"] == {"x": 2}


def test_nesting_deeper_than_the_limit_is_an_error_and_up_to_it_is_fine() -> None:
    assert parse_yaml("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), "x") is not None
    with pytest.raises(ConfigError, match=f"more than {MAX_DEPTH} levels"):
        parse_yaml("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH, "x")


def test_thousands_of_levels_give_an_error_not_a_recursion_error() -> None:
    with pytest.raises(ConfigError):
        parse_yaml("[" * 20000 + "]" * 20000, "x")


def test_aliases_that_expand_to_billions_of_values_are_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_yaml("\n".join(lines), "x")


def test_a_few_aliases_are_fine() -> None:
    assert parse_yaml("base: &b {lr: 0.1}\nother: *b\n", "x") == {"base": {"lr": 0.1}, "other": {"lr": 0.1}}


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: [" + "1, " * (MAX_BYTES // 3) + "1]")
    with pytest.raises(ConfigError, match="at most 1 MiB"):
        read_yaml(path, "config file 'big.yaml'")


def test_a_file_that_is_not_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError, match="byte 0xe9 at line 2"):
        read_yaml(path, "config file 'c.yaml'")


def test_python_tags_are_not_constructed() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_yaml("a: !!python/object/apply:os.system ['true']", "x")
