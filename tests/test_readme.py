"""The README documents every config field, and CI runs the README's test command."""

from __future__ import annotations

from collections.abc import Iterator

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
