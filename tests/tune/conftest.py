"""Tiny training configs and helpers for the tuning tests (iris, one epoch: a trial takes well under a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchlab.config import Config, make_config
from batchlab.tune.settings import TuneSettings, make_settings
from batchlab.tune.space import parse_space

TINY: dict[str, Any] = {
    "name": "tiny",
    "data": {"source": "iris"},
    "model": {"hidden": [8]},
    "train": {"batch_size": 16, "epochs": 1, "optimizer": {"name": "adam", "lr": 0.01}, "threads": 1},
}


@pytest.fixture
def tiny_config() -> Config:
    """Iris, an 8-unit MLP, one epoch."""
    return make_config(TINY)


def tiny_settings(tmp_path: Path, space: dict[str, Any], **options: Any) -> TuneSettings:
    """Settings of a study of the tiny config in ``tmp_path / 'study'``."""
    options.setdefault("method", "random")
    options.setdefault("study_dir", tmp_path / "study")
    config = make_config(TINY, options.pop("overrides", ()))
    return make_settings(config, parse_space(space), **options)


def write_yaml(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` and return it."""
    path.write_text(text, encoding="utf-8")
    return path
