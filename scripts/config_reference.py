"""Regenerate the README's config reference table from the schema (run after adding a config field).

.venv/bin/python scripts/config_reference.py
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from batchlab.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"


def rows(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        path = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from rows(annotation, path + ".")
            continue
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        meaning = field.description or ""
        if typing.get_origin(annotation) is typing.Literal:
            choices = " \\| ".join(map(str, typing.get_args(annotation)))
            meaning = f"{meaning}; {choices}" if meaning else choices
        yield f"| `{path}` | `{json.dumps(default)}` | {meaning} |"


def main() -> None:
    table = "\n".join(["| field | default | meaning |", "|---|---|---|", *rows(Config)])
    text = README.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END}")
    README.write_text(pattern.sub(f"{BEGIN}\n{table}\n{END}", text))


if __name__ == "__main__":
    main()
