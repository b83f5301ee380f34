"""The README documents every config field, its generated demo and results are current in format, and CI
runs the README's test command."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from batchlab.config import Config
from tests.conftest import REPO


def _field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _field_paths(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_every_config_field_is_in_the_readme_reference() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [path for path in _field_paths(Config) if f"`{path}`" not in readme]
    assert not missing, f"README's config reference lacks: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()


def _readme_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_results", REPO / "scripts" / "readme_results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _between(text: str, markers: tuple[str, str]) -> str:
    begin, end = markers
    assert begin in text and end in text, f"README.md lacks {begin} ... {end}"
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_the_generated_blocks_are_marked_and_the_demo_shows_its_command() -> None:
    script = _readme_script()
    readme = (REPO / "README.md").read_text()
    demo = _between(readme, script.DEMO).strip().splitlines()
    assert demo[0] == "```" and demo[1] == f"$ {script.DEMO_COMMAND}" and demo[-1] == "```"
    rows = _between(readme, script.RESULTS).strip().splitlines()
    assert [row.split("|")[1].strip() for row in rows[2:]] == [f"`configs/{s.config}.yaml`" for s in script.SHIPPED]


@pytest.mark.slow
def test_the_demo_block_has_the_format_train_prints_now(tmp_path: Path) -> None:
    """Numbers may differ between machines; every line, word and column must be what ``train`` prints."""
    script = _readme_script()
    stdout, _, run_dir = script.train(REPO / "configs" / "digits.yaml", tmp_path)
    assert run_dir.is_dir()
    readme_demo = _between((REPO / "README.md").read_text(), script.DEMO)
    assert script.shape(readme_demo) == script.shape(script.demo_block(stdout)), (
        "README.md's demo block is stale: run scripts/readme_results.py"
    )
