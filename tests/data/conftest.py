"""Fixtures of the data-layer tests: the shared real-data folder and the Adult column names."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data``, the real datasets; skips the test when the folder is absent."""
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"../shared/data is absent: {path} does not exist (real datasets for tests)")
    return path


@pytest.fixture(scope="session")
def adult_columns() -> list[str]:
    """Column names of UCI Adult, from adult.names (adult.data has no header)."""
    return [
        "age",
        "workclass",
        "fnlwgt",
        "education",
        "education-num",
        "marital-status",
        "occupation",
        "relationship",
        "race",
        "sex",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
        "native-country",
        "income",
    ]
