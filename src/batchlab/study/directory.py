"""The study directory: a ``study.json`` that says what was asked, and one run directory per cell.

::

    STUDY_DIR/
      study.json            kind, config, shared cell settings, sizes, seeds, target, training-set size
      runs/b32-s0/          a run directory (config.yaml, run.json, metrics.csv, ...) plus
               cell.json    the cell's measurements; written last, so it marks the cell as finished
      noise_scale.json      a noise-scale estimate (``batchlab study noise-scale``), when one was made
      results.csv/.json, summary.csv, plots/   written by ``batchlab report STUDY_DIR``

A learning-rate study (``batchlab study lr-vs-batch``, kind ``lr-vs-batch``) has the same layout with a range
test in each cell (``lr_find.json`` marks it finished); a directory holds one kind of sweep.

Re-running a study skips cells with a ``cell.json`` and trains the others again from the start (a run
killed half-way leaves a run directory without one, which is cleared first). The cells' shared settings
(the config apart from batch size and seed, budget, scaling, warmup, evaluation interval) must match the
study already in the directory; new sizes and seeds may be added.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from batchlab.atomic import write_text
from batchlab.errors import CheckpointError, ConfigError
from batchlab.locking import DirectoryLock

__all__ = ["StudyDirectory", "without_unused_norm_fields"]

STUDY_FILE = "study.json"
CELL_FILE = "cell.json"


class StudyDirectory:
    """Paths, readers and writers of one study's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def study_file(self) -> Path:
        return self.path / STUDY_FILE

    @property
    def runs(self) -> Path:
        return self.path / "runs"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def run_dir(self, name: str) -> Path:
        return self.runs / name

    def exists(self) -> bool:
        return self.study_file.exists()

    def lock(self) -> DirectoryLock:
        """Take the study directory for this process (created if missing); release it when done.

        Raises:
            ConfigError: another process runs a study here (the message names its pid), or the path is a file.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--study-dir: {str(self.path)!r} exists and is not a directory")
        return DirectoryLock(self.path, "study directory").acquire()

    def read(self) -> dict[str, Any]:
        """The parsed ``study.json``."""
        if not self.study_file.exists():
            raise CheckpointError(f"{str(self.path)!r} is not a study directory: study.json is missing")
        try:
            value = json.loads(self.study_file.read_text(encoding="utf-8"))
        except ValueError:
            raise CheckpointError(f"{str(self.study_file)!r} is not valid JSON (damaged?)") from None
        if not isinstance(value, dict):
            raise CheckpointError(f"{str(self.study_file)!r} does not hold a study")
        return value

    def write(self, study: dict[str, Any]) -> None:
        self.write_json(STUDY_FILE, study)

    def write_json(self, name: str, value: Any) -> None:
        write_text(self.path / name, json.dumps(value, indent=2) + "\n")

    def open(self, study: dict[str, Any]) -> dict[str, Any]:
        """Start a study here or continue the one that is here, and return the merged ``study.json``.

        A new study's folder is created. An existing one must share the fingerprint (config and cell
        settings); its sizes and seeds are merged with the new ones, and a given target replaces its own.

        Raises:
            ConfigError: the folder is not writable, is a file, or holds a different study.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--study-dir: {str(self.path)!r} exists and is not a directory")
        if self.exists():
            old = self.read()
            kinds = {old.get("kind", "batch-size"), study.get("kind", "batch-size")}
            if "lr-vs-batch" in kinds and len(kinds) > 1:
                raise ConfigError(
                    f"--study-dir: {str(self.path)!r} holds a study of kind {old.get('kind', 'batch-size')}, not "
                    f"{study.get('kind')}; choose a new --study-dir"
                )
            if old.get("kind") in ("batch-size", "lr-vs-batch") and old.get("fingerprint") != study["fingerprint"]:
                changed = _differences(old.get("shared", {}), study["shared"])
                raise ConfigError(
                    f"--study-dir: {str(self.path)!r} holds a study with other settings ({changed}); "
                    "re-run with the same config and options, or choose a new --study-dir"
                )
            study = {
                **old,
                **study,
                "sizes": _union(old.get("sizes", []), study["sizes"]),
                "seeds": _union(old.get("seeds", []), study["seeds"]),
                "target": study.get("target") or old.get("target"),
                "created": old.get("created", study.get("created")),
            }
        else:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"--study-dir: cannot create {str(self.path)!r}: {exc.strerror or exc}") from None
        self.write(study)
        return study

    def cell(self, name: str) -> dict[str, Any] | None:
        """The finished cell's record, or ``None`` if the cell has not finished (or its record is damaged)."""
        file = self.run_dir(name) / CELL_FILE
        try:
            value = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) and value.get("status") == "finished" else None

    def write_cell(self, name: str, record: dict[str, Any]) -> None:
        write_text(self.run_dir(name) / CELL_FILE, json.dumps({**record, "name": name}, indent=2) + "\n")

    def clear(self, name: str) -> bool:
        """Remove an unfinished cell's run directory; ``True`` if there was one."""
        return self.clear_path(self.run_dir(name))

    def clear_path(self, path: Path) -> bool:
        """Remove a run directory inside the study; ``True`` if there was one."""
        if path.exists():
            shutil.rmtree(path)
            return True
        return False

    def cells(self) -> list[dict[str, Any]]:
        """Every finished cell in ``runs/``, ordered by batch size (the token budget in a token study) then seed."""
        if not self.runs.is_dir():
            return []
        records = [r for r in (self.cell(p.name) for p in sorted(self.runs.iterdir()) if p.is_dir()) if r]
        return sorted(records, key=lambda r: (int(r.get("token_budget") or r["batch_size"]), int(r["seed"])))


def without_unused_norm_fields(config: dict[str, Any]) -> dict[str, Any]:
    """A dumped config without the normalization fields that change nothing for it, in place.

    ``model.norm`` batch / none says what ``model.batchnorm`` says, ``ghost_batch_size`` and
    ``norm_groups`` only matter for ghost and group norm, ``model.block_norm: layer`` is what the
    blocks always did, and ``train.precise_bn: 0`` is off: leaving
    them out keeps the fingerprint of a study started before those fields existed.
    """
    model, train = config.get("model", {}), config.get("train", {})
    norm = model.get("norm")
    if norm in ("batch", "none") and model.get("batchnorm") == (norm == "batch"):
        model.pop("norm", None)
    if norm != "ghost":
        model.pop("ghost_batch_size", None)
    if norm != "group" and model.get("block_norm") != "group":
        model.pop("norm_groups", None)
    if model.get("block_norm") == "layer":
        model.pop("block_norm", None)
    if not train.get("precise_bn"):
        train.pop("precise_bn", None)
    # Fields added later that are off: a fixed batch size, validation not on a clock of samples.
    if train.get("batch_schedule", {}).get("kind", "none") == "none":
        train.pop("batch_schedule", None)
    if train.get("val_every_samples") is None:
        train.pop("val_every_samples", None)
    return config


def fingerprint(shared: dict[str, Any]) -> str:
    """A short hash of the settings every cell shares."""
    text = json.dumps(shared, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _union(old: list[Any], new: list[Any]) -> list[Any]:
    merged = list(old)
    merged.extend(v for v in new if v not in merged)
    return merged


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str:
    paths: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = _differences(a, b, f"{prefix}{key}.")
            if inner:
                paths.append(inner)
        elif a != b:
            paths.append(f"{prefix}{key}: {json.dumps(a, default=str)} -> {json.dumps(b, default=str)}")
    return "; ".join(paths[:4]) + ("; ..." if len(paths) > 4 else "")
