"""One module per system. Each has ``throughput(data, batch_size, warmup, timed)`` and
``time_to_accuracy(data, target, max_epochs)``; both return a dict of plain numbers (see ``benchmarks.job``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SYSTEMS", "load"]

SYSTEMS = {
    "batchlab": "batchlab_fit",
    "bare": "bare",
    "dataloader": "dataloader",
    "lightning": "lightning_fit",
    "keras": "keras_fit",
    "skorch": "skorch_fit",
    "sklearn": "sklearn_mlp",
}
"""System name (as in the tables) → module in this package."""


def load(name: str) -> ModuleType:
    """The module of system ``name``."""
    return importlib.import_module(f"benchmarks.systems.{SYSTEMS[name]}")
