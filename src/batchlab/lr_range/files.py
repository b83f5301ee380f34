"""The files of a range test: ``lr_find.csv``, ``lr_find.json``, ``lr_find_config.yaml`` and the plot's place.

::

    DIR/
      lr_find.csv            one row per rate: point, lr, loss, smoothed_loss, samples
      lr_find.json           settings, suggestions, stop reason, notes, run facts, the curve and the config;
                             written last, so it marks a finished test
      lr_find_config.yaml    with --apply: the config with the suggested rate
      plots/lr_find.png      the loss against the rate (drawn by the API or the command line)

``DIR`` is a new or empty folder, an earlier range test's folder (its files are replaced), or a run
directory (only the files above are added; the run's own are left alone). Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import write_text
from batchlab.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from batchlab.lr_range.range_test import LRFindResult

__all__ = ["APPLIED_CONFIG", "CSV_FILE", "JSON_FILE", "PLOT_FILE", "RangeDirectory", "is_range_directory"]

CSV_FILE = "lr_find.csv"
JSON_FILE = "lr_find.json"
APPLIED_CONFIG = "lr_find_config.yaml"
PLOT_FILE = "plots/lr_find.png"


def is_range_directory(path: str | Path) -> bool:
    """Whether ``path`` holds a finished range test (``lr_find.json``)."""
    return (Path(path) / JSON_FILE).is_file()


class RangeDirectory:
    """Where one range test's files go."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.created = False

    @property
    def csv_file(self) -> Path:
        return self.path / CSV_FILE

    @property
    def json_file(self) -> Path:
        return self.path / JSON_FILE

    @property
    def plot_file(self) -> Path:
        return self.path / PLOT_FILE

    def prepare(self) -> None:
        """Check (and create) the folder before the test runs, so that a mistake costs nothing.

        Raises:
            ConfigError: the path is a file, a non-empty folder that holds neither a run nor a range test,
                or cannot be written.
        """
        path = self.path
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--run-dir: {str(path)!r} exists and is not a directory")
        if path.exists() and any(path.iterdir()):
            is_run = (path / "config.yaml").exists() and (path / "run.json").exists()
            if not (is_run or is_range_directory(path)):
                raise ConfigError(
                    f"--run-dir: {str(path)!r} is not empty and holds neither a run nor a range test; "
                    "choose a new directory"
                )
        parent = path if path.exists() else _existing_parent(path)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"--run-dir: cannot write to {str(parent)!r} (permission denied)")
        if not path.exists():
            try:
                path.mkdir(parents=True)
            except OSError as exc:
                raise ConfigError(f"--run-dir: cannot create {str(path)!r}: {exc.strerror or exc}") from None
            self.created = True

    def abandon(self) -> None:
        """After a failure: remove the folder if :meth:`prepare` created it and it holds no finished test."""
        if self.created and self.path.exists() and not is_range_directory(self.path):
            shutil.rmtree(self.path, ignore_errors=True)

    def write(self, result: LRFindResult) -> list[Path]:
        """Write ``lr_find.csv``, then ``lr_find.json`` (last: it marks the test finished)."""
        write_text(self.csv_file, curve_csv(result))
        write_text(self.json_file, json.dumps(result.to_dict(), indent=2) + "\n")
        return [self.csv_file, self.json_file]

    def write_config(self, text: str) -> Path:
        """Write the config with the suggested rate (``lr_find_config.yaml``)."""
        path = self.path / APPLIED_CONFIG
        write_text(path, text)
        return path

    def read(self) -> dict[str, Any]:
        """The parsed ``lr_find.json``.

        Raises:
            CheckpointError: missing or damaged.
        """
        if not self.json_file.exists():
            raise CheckpointError(f"{str(self.path)!r} holds no range test: lr_find.json is missing")
        try:
            value = json.loads(self.json_file.read_text(encoding="utf-8"))
        except ValueError:
            raise CheckpointError(f"{str(self.json_file)!r} is not valid JSON (damaged?)") from None
        if not isinstance(value, dict) or value.get("kind") != "lr-find":
            raise CheckpointError(f"{str(self.json_file)!r} does not hold a range test")
        return value


def curve_csv(result: LRFindResult) -> str:
    """The rows of ``lr_find.csv``: point (1-based), lr, loss, smoothed_loss (``nan``/``inf`` when not
    finite), and the training samples consumed up to the step that measured the loss (all workers)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["point", "lr", "loss", "smoothed_loss", "samples"])
    rows = zip(result.rates, result.losses, result.smoothed, result.samples, strict=True)
    for k, (rate, loss, smooth, seen) in enumerate(rows, start=1):
        writer.writerow([k, f"{rate:.6g}", _number(loss), _number(smooth), seen])
    return buffer.getvalue()


def _number(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else str(value)


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")
