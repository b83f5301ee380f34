"""Where recordings and their labels come from: a folder of audio files or a manifest CSV.

Three layouts are read (``data.source`` names the folder or the manifest):

* **class sub-folders**: ``root/<label>/**/*.wav`` (like an image folder); files directly inside
  ``root`` are ignored with a warning.
* **labels in file names**: ``data.label_pattern`` is a regular expression searched in each file's
  name (not its folder); group 1 is the label, e.g. ``'^(\\d)_'`` for FSDD's
  ``{digit}_{speaker}_{index}.wav``. Files under ``root`` are found at any depth. A pattern matching
  no file name is an error; files it does not match are skipped, counted in a warning that names one
  of them (a stray file should not stop a run, but it must not vanish silently either).
* **a manifest**: ``data.source`` is a ``.csv`` with a ``path`` column (relative to the CSV's folder,
  or absolute), a label column (``data.target``, default ``label``; or ``data.label_pattern`` on the
  file names when the column is absent) and optionally a group column named by ``data.group``.

Groups (e.g. speakers, for ``data.split.by_group``) come from ``data.group_pattern`` (group 1 of a
regular expression searched in the file name; every labelled file must match it) or from the
manifest's ``data.group`` column.

File ids are paths relative to the folder (or as written in the manifest), with ``/`` separators;
recordings are in sorted id order for folders and in row order for manifests.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from batchlab.data.audio.reading import AUDIO_SUFFIXES, read_recordings
from batchlab.data.sequences.ragged import Ragged
from batchlab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = [
    "MANIFEST_PATH_COLUMN",
    "AudioListing",
    "AudioSource",
    "is_audio_source",
    "list_audio",
    "load_audio_source",
]

logger = logging.getLogger(__name__)

MANIFEST_PATH_COLUMN = "path"
"""The manifest column holding each recording's file path."""

_DEFAULT_LABEL_COLUMN = "label"
_SCAN_DEPTH = 3  # is_audio_source looks this many folder levels down for an audio file


@dataclass(frozen=True)
class AudioListing:
    """The recordings of a source, before decoding.

    Attributes:
        paths: each recording's file.
        files: each recording's id: its path relative to the folder (or as in the manifest).
        labels: each recording's label, or ``None`` when labels were not asked for.
        groups: each recording's group (e.g. speaker), or ``None`` when none is configured.
    """

    paths: tuple[Path, ...]
    files: tuple[str, ...]
    labels: tuple[str, ...] | None
    groups: tuple[str, ...] | None

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class AudioSource:
    """Decoded recordings with their labels, ids and groups.

    Attributes:
        waveforms: ``n`` mono waveforms, float32, at ``sample_rate``; ``values`` is ``(total_samples,)``.
        labels: label of each recording (strings), or ``None`` (unlabelled prediction input).
        files: id of each recording: its path relative to the folder or manifest.
        groups: group of each recording (e.g. speaker), or ``None``.
        sample_rate: of ``waveforms``, in Hz.
    """

    waveforms: Ragged
    labels: tuple[str, ...] | None
    files: tuple[str, ...]
    groups: tuple[str, ...] | None
    sample_rate: int

    def __len__(self) -> int:
        return len(self.files)

    def take(self, rows: Sequence[int] | np.ndarray | torch.Tensor) -> AudioSource:
        """The recordings at positions ``rows``, in that order."""
        index = torch.as_tensor(rows, dtype=torch.int64)
        picked = index.tolist()
        return AudioSource(
            self.waveforms.take(index),
            None if self.labels is None else tuple(self.labels[i] for i in picked),
            tuple(self.files[i] for i in picked),
            None if self.groups is None else tuple(self.groups[i] for i in picked),
            self.sample_rate,
        )

    @property
    def seconds(self) -> float:
        """Total duration of the recordings, in seconds."""
        return len(self.waveforms.values) / self.sample_rate


def load_audio_source(
    cfg: DataConfig,
    source: str | None = None,
    *,
    require_target: bool = True,
    with_groups: bool = True,
    field: str | None = None,
) -> AudioSource:
    """List (see :func:`list_audio`) and decode (see :mod:`~batchlab.data.audio.reading`) a source.

    Args:
        cfg: the ``data`` section (``source``, ``target``, ``label_pattern``, ``group_pattern``,
            ``group``, ``sep``, ``audio``).
        source: a folder or manifest replacing ``cfg.source`` (held-out splits, prediction input).
        require_target: labels are required (training, evaluation); when false they are not read.
        with_groups: read the groups when configured (only splits need them).
        field: the config field named in error messages; default ``data.source``, or ``input``.

    Raises:
        DataError: see :func:`list_audio` and :func:`~batchlab.data.audio.reading.read_recording`.
        ConfigError: an invalid ``data.label_pattern`` / ``data.group_pattern``.

    Example:
        >>> from batchlab.config import DataConfig
        >>> cfg = DataConfig(source="fsdd/recordings", label_pattern=r"^(\\d)_")  # doctest: +SKIP
        >>> source = load_audio_source(cfg)  # doctest: +SKIP
    """
    listing = list_audio(cfg, source, require_target=require_target, with_groups=with_groups, field=field)
    field = field or ("data.source" if source is None else "input")
    waveforms = read_recordings(listing.paths, cfg.audio, field=field)
    return AudioSource(waveforms, listing.labels, listing.files, listing.groups, cfg.audio.sample_rate)


def list_audio(
    cfg: DataConfig,
    source: str | None = None,
    *,
    require_target: bool = True,
    with_groups: bool = True,
    field: str | None = None,
) -> AudioListing:
    """The recordings of a folder or manifest with their labels and groups (no audio is decoded).

    Args: as :func:`load_audio_source`.

    Raises:
        DataError: the source does not exist or holds no audio files; no labels can be found
            (no class sub-folders, no label column); ``data.label_pattern`` matches no file name;
            a labelled file does not match ``data.group_pattern``; a manifest row names a missing
            file or has an empty label or group.
        ConfigError: a pattern is not a valid regular expression or has no group 1; ``data.group``
            is set for a folder.
    """
    name = cfg.source if source is None else source
    field = field or ("data.source" if source is None else "input")
    path = Path(name).expanduser()
    label_rx = _compile(cfg.label_pattern, "data.label_pattern") if require_target else None
    group_rx = _compile(cfg.group_pattern, "data.group_pattern") if with_groups else None
    if path.is_file() and path.suffix.lower() == ".csv":
        listing = _read_manifest(path, cfg, require_target=require_target, with_groups=with_groups, field=field)
    elif path.is_dir():
        if with_groups and cfg.group is not None:
            raise ConfigError(
                f"data.group: '{cfg.group}' names a manifest column, but {field} '{name}' is a folder; "
                "set data.group_pattern to read groups from file names"
            )
        listing = _read_folder(path, require_target=require_target and label_rx is None, field=field)
    elif path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
        listing = AudioListing((path,), (path.name,), None, None)
    else:
        what = "does not exist" if not path.exists() else "is neither a folder of recordings nor a manifest .csv"
        raise DataError(f"{field}: '{name}' {what}")
    if label_rx is not None and listing.labels is None:
        listing = _labels_from_names(listing, label_rx, cfg.label_pattern or "")
    if require_target and listing.labels is None:
        raise DataError(f"{field}: '{name}' gives no labels; set data.label_pattern to read them from file names")
    if group_rx is not None and listing.groups is None:
        listing = _groups_from_names(listing, group_rx, cfg.group_pattern or "")
    return listing


def is_audio_source(cfg: DataConfig, source: str | None = None) -> bool:
    """Whether ``source`` (default ``cfg.source``) is audio: a recording, a folder holding recordings
    (looked for up to three folder levels down) or a manifest CSV whose first path is a recording.

    Cheap: reads at most a folder listing or the manifest's first two lines, and imports no audio
    library. A path that does not exist is not audio (the table and built-in loaders report it).
    """
    path = Path(cfg.source if source is None else source).expanduser()
    if path.is_file():
        if path.suffix.lower() in AUDIO_SUFFIXES:
            return True
        return path.suffix.lower() == ".csv" and _manifest_names_audio(path)
    return path.is_dir() and _holds_audio(path, _SCAN_DEPTH)


# ------------------------------------------------------------------------------------------ folders


def _read_folder(root: Path, *, require_target: bool, field: str) -> AudioListing:
    """Class sub-folders when there are any with recordings, else a flat folder (labels ``None``)."""
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths: list[Path] = []
    labels: list[str] = []
    if require_target:
        for folder in class_dirs:
            found = _audio_files(folder)
            if not found:
                logger.warning("class folder '%s' holds no recordings (%s); it is skipped", folder, _suffixes())
            paths += found
            labels += [folder.name] * len(found)
        if paths and _audio_files(root, recursive=False):
            logger.warning(
                "recordings directly inside '%s' are ignored; only those in class sub-folders are used", root
            )
    if not paths:
        paths = _audio_files(root)
        if not paths:
            raise DataError(f"{field}: folder '{root}' holds no audio files ({_suffixes()})")
        if require_target:
            raise DataError(
                f"{field}: folder '{root}' holds recordings but no class sub-folders; put each class's "
                "recordings in a sub-folder named after it, or set data.label_pattern"
            )
        labels = []
    files = tuple(p.relative_to(root).as_posix() for p in paths)
    return AudioListing(tuple(paths), files, tuple(labels) if labels else None, None)


def _audio_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Audio files under ``folder`` (hidden files and folders skipped), sorted by relative path."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = [
        p
        for p in found
        if p.suffix.lower() in AUDIO_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _holds_audio(folder: Path, depth: int) -> bool:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    if any(e.is_file() and Path(e.name).suffix.lower() in AUDIO_SUFFIXES for e in entries):
        return True
    return depth > 1 and any(
        e.is_dir() and not e.name.startswith(".") and _holds_audio(Path(e.path), depth - 1) for e in entries
    )


def _suffixes() -> str:
    return ", ".join(AUDIO_SUFFIXES)


# ---------------------------------------------------------------------------------------- manifests


def _read_manifest(path: Path, cfg: DataConfig, *, require_target: bool, with_groups: bool, field: str) -> AudioListing:
    """A manifest CSV's rows: files relative to its folder, labels and groups from its columns."""
    rows, columns = _manifest_rows(path, cfg.sep, field=field)
    where = f"{field}: manifest '{path}'"
    if MANIFEST_PATH_COLUMN not in columns:
        raise DataError(f"{where} has no '{MANIFEST_PATH_COLUMN}' column; its columns are: {', '.join(columns)}")
    if not rows:
        raise DataError(f"{where} lists no recordings")
    label_column = cfg.target or _DEFAULT_LABEL_COLUMN
    labels = None
    if require_target and (label_column in columns or cfg.target is not None or cfg.label_pattern is None):
        if label_column not in columns:
            raise DataError(
                f"{where} has no label column '{label_column}'; its columns are: {', '.join(columns)}; "
                "set data.target to the label column, or data.label_pattern to read labels from file names"
            )
        labels = tuple(_cell(row, label_column, i, where) for i, row in enumerate(rows))
    groups = None
    if with_groups and cfg.group is not None:
        if cfg.group not in columns:
            raise DataError(
                f"data.group: manifest '{path}' has no column '{cfg.group}'; its columns are: {', '.join(columns)}"
            )
        groups = tuple(_cell(row, cfg.group, i, where) for i, row in enumerate(rows))
    files = tuple(_cell(row, MANIFEST_PATH_COLUMN, i, where) for i, row in enumerate(rows))
    paths = tuple(_resolve(path.parent, f) for f in files)
    for i, p in enumerate(paths):
        if not p.is_file():
            raise DataError(f"{where}, row {i + 1}: recording '{files[i]}' does not exist (looked for '{p}')")
    return AudioListing(paths, tuple(Path(f).as_posix() for f in files), labels, groups)


def _manifest_rows(path: Path, sep: str, *, field: str) -> tuple[list[dict[str, str]], list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{field}: manifest '{path}' cannot be read ({exc.__class__.__name__})") from None
    delimiter = sep if sep != "auto" else _sniff(text)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    return rows, columns


def _sniff(text: str) -> str:
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t", "|"), key=header.count)


def _cell(row: dict[str, str], column: str, index: int, where: str) -> str:
    value = row.get(column, "")
    if not value:
        raise DataError(f"{where}, row {index + 1}: the '{column}' column is empty")
    return value


def _resolve(folder: Path, file: str) -> Path:
    path = Path(file).expanduser()
    return path if path.is_absolute() else folder / path


def _manifest_names_audio(path: Path) -> bool:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            head = [handle.readline(), handle.readline()]
    except (OSError, UnicodeDecodeError):
        return False
    reader = csv.DictReader(head, delimiter=_sniff(head[0]))
    first = next(iter(reader), None)
    if first is None or MANIFEST_PATH_COLUMN not in (reader.fieldnames or []):
        return False
    return Path((first.get(MANIFEST_PATH_COLUMN) or "").strip()).suffix.lower() in AUDIO_SUFFIXES


# ------------------------------------------------------------------------------------------ patterns


def _compile(pattern: str | None, field: str) -> re.Pattern[str] | None:
    """The compiled pattern, checked to have a group 1; ``None`` when unset."""
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{field}: '{pattern}' is not a valid regular expression ({exc})") from None
    if rx.groups < 1:
        raise ConfigError(f"{field}: '{pattern}' has no group; put the part to extract in parentheses, e.g. '^(\\d)_'")
    return rx


def _match(rx: re.Pattern[str], file: str) -> str | None:
    """Group 1 of ``rx`` searched in the file's name, or ``None`` (no match, or an empty group)."""
    found = rx.search(Path(file).name)
    return (found.group(1) or None) if found else None


def _labels_from_names(listing: AudioListing, rx: re.Pattern[str], pattern: str) -> AudioListing:
    """Labels from the file names; files without a match are skipped with a counted warning."""
    labels = [_match(rx, f) for f in listing.files]
    keep = [i for i, label in enumerate(labels) if label is not None]
    if not keep:
        raise DataError(
            f"data.label_pattern: '{pattern}' matches none of the {len(listing)} file names "
            f"(e.g. '{Path(listing.files[0]).name}'); its group 1 must capture the label"
        )
    if len(keep) < len(listing):
        skipped = next(f for f, label in zip(listing.files, labels, strict=True) if label is None)
        logger.warning(
            "data.label_pattern '%s' matches %d of %d file names; the other %d (e.g. '%s') are skipped",
            pattern,
            len(keep),
            len(listing),
            len(listing) - len(keep),
            skipped,
        )
    return AudioListing(
        tuple(listing.paths[i] for i in keep),
        tuple(listing.files[i] for i in keep),
        tuple(str(labels[i]) for i in keep),
        None if listing.groups is None else tuple(listing.groups[i] for i in keep),
    )


def _groups_from_names(listing: AudioListing, rx: re.Pattern[str], pattern: str) -> AudioListing:
    """Groups from the file names; every file must match."""
    groups = [_match(rx, f) for f in listing.files]
    missing = [f for f, group in zip(listing.files, groups, strict=True) if group is None]
    if missing:
        raise DataError(
            f"data.group_pattern: '{pattern}' matches {len(listing) - len(missing)} of {len(listing)} "
            f"file names but not '{Path(missing[0]).name}'; every recording needs a group"
        )
    return AudioListing(listing.paths, listing.files, listing.labels, tuple(str(g) for g in groups))
