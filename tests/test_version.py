"""The version batchlab reports is the one the package is built with."""

from __future__ import annotations

from pathlib import Path

import tomllib

import batchlab
from batchlab.version import VERSION


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert VERSION == project["version"] == batchlab.__version__
