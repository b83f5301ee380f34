"""The run directory: one folder per run, the unit that evaluate, predict, resume and report read.

::

    runs/<name>-<timestamp>/
      config.yaml         the resolved config, enough to reproduce the run
      run.json            facts the config alone does not give: status, input shape, classes, batch count,
                          stop reason; the config and the SHA-256 of config.yaml (an edit is refused on resume)
      metrics.csv         one row per evaluation: epoch, step, samples, losses, metrics, lr, seconds
      model.safetensors   final weights (the best ones when early stopping restores them)
      preprocess.json     fitted preprocessing state
      test_metrics.json   metrics on the test split
      checkpoints/        resumable state
      plots/              learning_curves.png
      .lock               locked (flock) by the one process writing the run

Every file is written atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import write_text
from batchlab.config import Config, config_to_yaml, make_config, read_yaml
from batchlab.errors import CheckpointError, ConfigError
from batchlab.locking import LOCK_FILE
from batchlab.plural import counted

if TYPE_CHECKING:
    import torch

__all__ = ["RunDirectory", "check_free_space", "default_run_path"]


def default_run_path(name: str, root: str | Path = "runs") -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>``, with a counter appended if that exists already."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, counter = base, 1
    while path.exists():
        counter += 1
        path = base.with_name(f"{base.name}-{counter}")
    return path


class RunDirectory:
    """Paths and readers/writers of one run's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.yaml")
    run_file = property(lambda self: self.path / "run.json")
    metrics_file = property(lambda self: self.path / "metrics.csv")
    weights_file = property(lambda self: self.path / "model.safetensors")
    preprocess_file = property(lambda self: self.path / "preprocess.json")
    test_metrics_file = property(lambda self: self.path / "test_metrics.json")
    checkpoints = property(lambda self: self.path / "checkpoints")
    plots = property(lambda self: self.path / "plots")

    def nearest_existing(self) -> Path:
        """The folder itself if it exists, else its nearest existing ancestor (for disk checks)."""
        self._check_name_lengths()
        return self.path if self.path.exists() else _existing_parent(self.path)

    def check_writable(self) -> None:
        """Fail before training if the folder cannot be created or written (read-only, not a folder)."""
        self._check_name_lengths()
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--run-dir: {str(self.path)!r} exists and is not a directory")
        parent = self.path if self.path.exists() else _existing_parent(self.path)
        if not parent.is_dir():
            raise ConfigError(f"--run-dir: {str(parent)!r} is a file, so {str(self.path)!r} cannot be created in it")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"--run-dir: cannot write to {str(parent)!r} (permission denied)")

    def has_content(self) -> bool:
        """Whether the folder holds anything besides its lock file and the temporary files of a run that
        was killed before writing its config (such a folder counts as empty)."""
        if not self.path.is_dir():
            return False
        return any(not _is_leftover(entry.name) for entry in self.path.iterdir())

    def remove_temporary_files(self) -> list[Path]:
        """Delete the temporary files (``.NAME.*.tmp``) and checkpoint staging folders a killed process left.

        Only safe while this process holds the directory's lock: another writer's would be in use.
        """
        removed = []
        for folder in (self.path, self.checkpoints, self.plots):
            for entry in sorted(folder.glob(".*.tmp")) if folder.is_dir() else []:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed

    def _check_name_lengths(self) -> None:
        long = next((part for part in self.path.parts if len(os.fsencode(part)) > 255), None)
        if long is not None:
            raise ConfigError(
                f"--run-dir: the folder name {long[:30]!r}... has {len(os.fsencode(long))} bytes; file systems allow "
                "at most 255 per name; choose a shorter one"
            )

    def create(self) -> None:
        """Create the folder; an existing one must be empty (or hold only a previous run to resume)."""
        self.check_writable()
        if self.has_content():
            raise ConfigError(
                f"--run-dir: {str(self.path)!r} is not empty; choose a new directory or use --resume {self.path}"
            )
        probe = self.path / ".write-probe"
        existed = self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"\0" * 65536)
            probe.unlink()
        except OSError as exc:
            if not existed:
                shutil.rmtree(self.path, ignore_errors=True)
            raise ConfigError(f"--run-dir: cannot write to {str(self.path)!r}: {exc.strerror or exc}") from None

    def write_config(self, config: Config) -> None:
        write_text(self.config_file, config_to_yaml(config))

    def read_config(self) -> Config:
        """The run's resolved config.

        Raises:
            CheckpointError: ``config.yaml`` is missing, is not YAML, not UTF-8, empty or not a mapping.
            ConfigError: it names an invalid field (an edit by hand).
        """
        if not self.config_file.exists():
            raise CheckpointError(f"{str(self.path)!r} is not a run directory: config.yaml is missing")
        what = f"run config {str(self.config_file)!r}"
        try:
            raw = read_yaml(self.config_file, what)
        except ConfigError as exc:
            raise CheckpointError(f"{exc} (damaged? batchlab train writes it)") from None
        if not isinstance(raw, dict) or not raw:
            held = "nothing" if raw is None or raw == {} else f"a {type(raw).__name__}"
            raise CheckpointError(
                f"{what} holds {held}, not a mapping of sections (data, model, train); damaged? batchlab train "
                "writes it"
            )
        try:
            return make_config(raw)
        except ConfigError as exc:
            raise ConfigError(f"{what}: {exc}") from None

    def write_json(self, name: str, value: Any) -> None:
        write_text(self.path / name, json.dumps(value, indent=2, default=_jsonable) + "\n")

    def read_json(self, name: str) -> dict[str, Any]:
        """The JSON object in the run's file ``name`` (``run.json``, ``preprocess.json``, ...).

        Raises:
            CheckpointError: the file is missing, is not JSON (or not UTF-8), or holds something other
                than an object.
        """
        file = self.path / name
        if not file.exists():
            raise CheckpointError(f"{str(self.path)!r} is missing {name}; was the run finished?")
        if not file.is_file():
            raise CheckpointError(f"{str(file)!r} is not a file (damaged? batchlab train writes it)")
        try:
            value = json.loads(file.read_text(encoding="utf-8"))
        except ValueError:  # UnicodeDecodeError is a ValueError too
            raise CheckpointError(f"{str(file)!r} is not valid JSON (damaged?)") from None
        if not isinstance(value, dict):
            raise CheckpointError(
                f"{str(file)!r} holds a JSON {type(value).__name__}, not an object (damaged? batchlab train writes it)"
            )
        return value

    def require_run(self) -> None:
        """Raise a clear error unless this looks like a run directory."""
        if not self.path.is_dir():
            raise CheckpointError(f"run directory {str(self.path)!r} does not exist")
        if not self.config_file.exists():
            raise CheckpointError(f"{str(self.path)!r} is not a run directory: config.yaml is missing")


def check_free_space(path: Path, model: torch.nn.Module, keep: int) -> None:
    """Refuse to start when the disk cannot hold the checkpoints (weights + optimizer state, kept ``keep`` times)."""
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    needed = parameter_bytes * 4 * (keep + 2) + 16 * 2**20
    usage = shutil.disk_usage(path)
    if usage.total == 0:
        raise ConfigError(
            f"--run-dir: {str(path)!r} is on a virtual file system with no disk behind it (such as /proc); "
            "choose a folder on a disk"
        )
    free = usage.free
    if free < needed:
        raise ConfigError(
            f"--run-dir: only {free / 2**20:.0f} MiB free on the disk of {str(path)!r}; "
            f"the run needs about {needed / 2**20:.0f} MiB for weights and {counted(keep, 'checkpoint')}"
        )


def _is_leftover(name: str) -> bool:
    return name in (LOCK_FILE, ".write-probe") or (name.startswith(".") and name.endswith(".tmp"))


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists() or parent.is_symlink():
            return parent
    return Path("/")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")
