"""The built-in datasets: what ``batchlab datasets`` lists and ``data.source`` may name.

They ship inside scikit-learn, so need no download. This module imports nothing heavy (listing them
must stay quick); :func:`read_digits` reads the digits file directly, without importing scikit-learn.
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BUILTIN_DATASETS", "BuiltinDataset", "builtin_names", "read_digits"]


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset that ships inside an installed package (scikit-learn), so needs no download.

    Attributes:
        description: one line for ``batchlab datasets``.
        rows: number of samples.
        features: number of input features (pixels for images).
        task: ``"classification"`` or ``"regression"``.
        kind: ``"table"`` or ``"images"``.
    """

    description: str
    rows: int
    features: int
    task: str
    kind: str

    def __str__(self) -> str:
        return f"{self.description} ({self.rows} rows, {self.features} features, {self.task})"


BUILTIN_DATASETS: Mapping[str, BuiltinDataset] = MappingProxyType(
    {
        "iris": BuiltinDataset("Iris flowers: 4 measurements, 3 species", 150, 4, "classification", "table"),
        "wine": BuiltinDataset(
            "Wine recognition: 13 chemical measurements, 3 cultivars", 178, 13, "classification", "table"
        ),
        "breast_cancer": BuiltinDataset(
            "Breast cancer Wisconsin: 30 cell features, malignant or benign",
            569,
            30,
            "classification",
            "table",
        ),
        "diabetes": BuiltinDataset(
            "Diabetes progression after one year from 10 baseline variables", 442, 10, "regression", "table"
        ),
        "digits": BuiltinDataset(
            "Handwritten digits 0-9 as 1x8x8 images, pixel values 0-16", 1797, 64, "classification", "images"
        ),
    }
)
"""Built-in datasets by name; ``data.source`` may name one instead of a path."""


def builtin_names() -> list[str]:
    """Names of the built-in datasets, sorted."""
    return sorted(BUILTIN_DATASETS)


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits images and labels, as scikit-learn's ``load_digits()`` gives them.

    Returns:
        ``(images, labels)``: float32 pixel counts 0..16 of shape ``(1797, 8, 8)``, and int64 digits
        of shape ``(1797,)``.
    """
    import numpy as np

    path = _sklearn_data_file("digits.csv.gz")
    if path is None:  # an unusual installation: let scikit-learn find its file
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images.astype(np.float32), bunch.target.astype(np.int64)
    with gzip.open(path, "rt", encoding="ascii") as file:
        table = np.loadtxt(file, delimiter=",")  # 1797 rows: 64 pixels, then the digit
    return table[:, :-1].reshape(-1, 8, 8).astype(np.float32), table[:, -1].astype(np.int64)


def _sklearn_data_file(name: str) -> Path | None:
    """The path of a file bundled in ``sklearn/datasets/data``, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "datasets" / "data" / name
        if path.is_file():
            return path
    return None
