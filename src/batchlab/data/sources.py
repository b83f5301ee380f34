"""Loading raw data named by ``data.source``: a built-in dataset or a file or folder.

:func:`load_source` returns one of two value objects, before any splitting or preprocessing:

* :class:`RawTable`: a frame holding the feature columns and the target column (CSV, Parquet,
  the tabular built-ins ``iris``, ``wine``, ``breast_cancer``, ``diabetes``);
* :class:`RawArrays`: ``(n, d)`` vectors or ``(n, C, H, W)`` images with labels (``.npz``, ``.npy``,
  MNIST-format IDX, image folders, the built-in ``digits``).

Formats are chosen by extension, then by the file's first bytes; text that is nothing else is read
as CSV. Example:

    >>> from batchlab.config import DataConfig
    >>> raw = load_source(DataConfig(source="iris"))
    >>> raw.target, raw.frame.shape
    ('target', (150, 5))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from batchlab.data.arrays import array_layout, label_vector, read_npy, read_npz
from batchlab.data.builtins import BUILTIN_DATASETS, BuiltinDataset, builtin_names, read_digits
from batchlab.data.compression import read_head
from batchlab.data.idx import is_idx_header, read_idx
from batchlab.data.imagefolder import read_image_folder
from batchlab.data.mapped import column, take_rows
from batchlab.data.tabular import read_csv, read_parquet
from batchlab.errors import DataError, did_you_mean

if TYPE_CHECKING:
    from batchlab.config import DataConfig

__all__ = ["BUILTIN_DATASETS", "BuiltinDataset", "RawArrays", "RawTable", "builtin_names", "load_source"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawTable:
    """Features and target of a table, as read (strings, numbers and NaN for missing cells).

    Attributes:
        frame: one row per sample; feature columns and the target column. Its index numbers the
            data rows from 0, so row ``i`` is data row ``i + 1`` of the file (in error messages).
        target: the target column's name, or ``None`` when the input has none (prediction input).
    """

    frame: pd.DataFrame
    target: str | None

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def take(self, rows: np.ndarray) -> RawTable:
        """The rows at positions ``rows`` (original row numbers are kept in the index)."""
        return RawTable(self.frame.iloc[rows], self.target)


@dataclass(frozen=True)
class RawArrays:
    """Vectors or images with their labels, as read.

    Attributes:
        x: features, shape ``(n, d)`` (vectors) or ``(n, C, H, W)`` (images), any numeric dtype; for an
            ``.npy`` file, a read-only map of it (see :mod:`batchlab.data.mapped`; :meth:`take` copies rows).
        y: labels or regression targets, shape ``(n,)``: integers for IDX, NumPy and ``digits``;
            class names (strings) for image folders; ``None`` when absent (prediction input).
        image: whether ``x`` holds images.
        files: for an image folder, each image's path relative to it; otherwise ``None``.
    """

    x: np.ndarray
    y: np.ndarray | None
    image: bool
    files: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, rows: np.ndarray) -> RawArrays:
        """The samples at positions ``rows``."""
        files = tuple(self.files[i] for i in rows) if self.files is not None else None
        return RawArrays(take_rows(self.x, rows), None if self.y is None else self.y[rows], self.image, files)


_TEXT_SUFFIXES = (".csv", ".txt", ".data", ".test", ".tsv", ".tab", ".dat")
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


def load_source(
    cfg: DataConfig,
    source: str | None = None,
    *,
    require_target: bool = True,
    field: str | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> RawTable | RawArrays:
    """Load a dataset with the format options of ``cfg``.

    Args:
        cfg: the ``data`` section: ``source``, ``target``, ``labels``, ``sep``, ``header``,
            ``columns``, ``drop``, ``missing_values``, ``image_size``, ``categorical``, ``numeric``.
        source: a built-in name or path that replaces ``cfg.source`` (a separate validation or test
            file, or input for evaluate / predict). ``cfg.labels`` applies to ``cfg.source`` only.
        require_target: when false the target may be absent (prediction input): a table without the
            ``cfg.target`` column, a headerless CSV with one column fewer than ``cfg.columns`` (the
            target's), arrays without labels. With ``cfg.target`` unset, a table's last column is
            the target only when ``require_target`` is true. A 2-D ``.npy`` without a labels file
            keeps all its columns as features when false (its last column is the target when true).
        field: the config field named in error messages; default ``data.source``, or ``input``
            when ``source`` is given.
        image_shape: ``(C, H, W)`` of the images a model was trained on: a folder's images are converted
            to ``C`` channels and resized to ``H x W`` (prediction input, separate validation and test
            folders); ``None`` reads them as they are, resized to ``cfg.image_size`` if set.

    Returns:
        A :class:`RawTable` or :class:`RawArrays`.

    Raises:
        DataError: unknown built-in name, missing / empty / unreadable / unrecognised file, unknown
            target, drop, categorical or numeric column, missing labels.
    """
    name = cfg.source if source is None else source
    field = field or ("data.source" if source is None else "input")
    path = Path(name).expanduser()
    if source is None:
        _check_unused_options(cfg, path)
    if not path.exists():
        if name in BUILTIN_DATASETS:
            raw = _load_builtin(name)
            if isinstance(raw, RawArrays):
                return raw
            return _select_columns(raw.frame, cfg, where=f"built-in dataset '{name}'", require_target=require_target)
        if path.suffix or "/" in name or "\\" in name:
            raise DataError(f"{field}: file '{name}' does not exist")
        raise DataError(
            f"{field}: '{name}' is neither an existing path nor a built-in dataset; "
            f"{did_you_mean(name, builtin_names())}"
        )
    labels = Path(cfg.labels).expanduser() if cfg.labels is not None and source is None else None
    if labels is not None and labels.is_dir():
        raise DataError(f"data.labels: '{labels}' is a folder; give the labels file (IDX labels or a .npy)")
    if path.is_dir():
        size = (int(image_shape[1]), int(image_shape[2])) if image_shape is not None else cfg.image_size
        folder = read_image_folder(
            path,
            image_size=size,
            field=field,
            require_target=require_target,
            channels=int(image_shape[0]) if image_shape is not None else None,
        )
        return RawArrays(folder.x, folder.y, True, folder.files)
    return _load_file(path, cfg, labels=labels, field=field, require_target=require_target)


def _check_unused_options(cfg: DataConfig, path: Path) -> None:
    """Options that only some sources read are errors elsewhere, rather than silently ignored."""
    is_folder = path.is_dir()
    if cfg.image_size is not None and not is_folder:
        what = f"built-in dataset '{cfg.source}'" if not path.exists() else f"file '{path}'"
        raise DataError(
            f"data.image_size: resizes the images of an image folder, but data.source is the {what}; "
            "remove data.image_size"
        )
    if cfg.labels is not None and not path.is_file():
        _labels_unused(cfg, "a folder" if is_folder else "a built-in dataset")


def _labels_unused(cfg: DataConfig, what: str) -> None:
    raise DataError(
        f"data.labels: only IDX images and .npy features take a labels file; data.source '{cfg.source}' is "
        f"{what} (a table's target is a column: data.target); remove data.labels"
    )


def _load_file(
    path: Path, cfg: DataConfig, *, labels: Path | None, field: str, require_target: bool
) -> RawTable | RawArrays:
    try:
        size = path.stat().st_size
        head = read_head(path, 512)
    except OSError as exc:
        raise DataError(f"{field}: file '{path}' cannot be read ({exc.__class__.__name__})") from None
    if size == 0:
        raise DataError(f"{field}: file '{path}' is empty")
    if not head:
        raise DataError(f"{field}: file '{path}' cannot be decompressed: it is truncated or corrupt")
    kind = _format_of(path, head)
    where = f"file '{path}'"
    if labels is not None and kind not in ("idx", "npy"):
        _labels_unused(cfg, f"a {kind if kind != 'csv' else 'CSV'} file")
    if kind == "idx":
        x, y = read_idx(path, labels=labels, field=field, require_target=require_target)
        return _arrays(x, y, where=where, require_target=require_target)
    if kind == "npz":
        x, y = read_npz(path, field=field)
        return _arrays(x, y, where=where, require_target=require_target)
    if kind == "npy":
        x = read_npy(path, field=field, mapped=True)  # rows are copied out of it by split (RawArrays.take)
        y = None
        if labels is not None:
            if not labels.is_file():
                raise DataError(f"data.labels: file '{labels}' does not exist")
            y = read_npy(labels, field="data.labels")
        elif x.ndim == 2 and require_target:
            x, y = x[:, :-1], column(x, -1)  # no labels file: the last column is the target
        return _arrays(x, y, where=where, require_target=require_target)
    if kind == "parquet":  # it names its own columns: data.columns is for header-less CSV
        if cfg.columns is not None and field == "data.source":
            raise DataError(
                f"data.columns: names the columns of a header-less CSV, but data.source '{path}' is a Parquet "
                "file, which names its own columns; remove data.columns"
            )
        frame = read_parquet(path, missing_values=cfg.missing_values, field=field)
        return _select_columns(
            frame, cfg.model_copy(update={"columns": None}), where=where, require_target=require_target
        )
    if kind == "csv":
        frame = read_csv(path, sep=cfg.sep, header=cfg.header, missing_values=cfg.missing_values, field=field)
    else:
        raise DataError(
            f"{field}: cannot recognise the format of file '{path}'; expected CSV or other text, Parquet "
            "(.parquet), NumPy (.npz, .npy), MNIST IDX (e.g. *-images-idx3-ubyte.gz) or an image folder"
        )
    return _select_columns(frame, cfg, where=where, require_target=require_target)


def _format_of(path: Path, head: bytes) -> str:
    """``idx``, ``npz``, ``npy``, ``parquet``, ``csv`` or ``unknown``: extension first, then content."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    by_suffix = {".parquet": "parquet", ".pq": "parquet", ".npz": "npz", ".npy": "npy"}
    if is_idx_header(head):
        return "idx"
    if suffix in by_suffix:
        return by_suffix[suffix]
    if suffix in _TEXT_SUFFIXES:
        return "csv" if b"\x00" not in head else "unknown"
    if "idx" in path.name.lower():
        return "idx"
    for magic, kind in ((b"PAR1", "parquet"), (b"PK\x03\x04", "npz"), (b"\x93NUMPY", "npy")):
        if head.startswith(magic):
            return kind
    return "csv" if _looks_like_text(head) else "unknown"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still text
        return exc.start >= len(head) - 3
    return True


def _arrays(x: np.ndarray, y: np.ndarray | None, *, where: str, require_target: bool = True) -> RawArrays:
    x, image = array_layout(x, where=where)
    if y is None and require_target:
        raise DataError(f"data: {where} holds features but no labels; add them (y in .npz) or set data.labels")
    if y is not None:
        y = label_vector(y, x.shape[0], where=where)
    return RawArrays(x, y, image)


def _select_columns(frame: pd.DataFrame, cfg: DataConfig, *, where: str, require_target: bool) -> RawTable:
    """Name the columns, drop ``cfg.drop``, find the target and check the other named columns."""
    if cfg.columns is not None:
        names = list(cfg.columns)
        if len(names) == frame.shape[1] + 1 and not require_target and cfg.target is not None and cfg.target in names:
            names.remove(cfg.target)  # prediction input without its target column
        if len(names) != frame.shape[1]:
            raise DataError(f"data.columns: names {len(cfg.columns)} columns but {where} has {frame.shape[1]}")
        frame = frame.set_axis(names, axis=1)
    columns = list(frame.columns)
    if cfg.target is not None and cfg.target in cfg.drop:
        raise DataError(
            f"data.drop: holds the target column '{cfg.target}'; remove it from data.drop, or set data.target "
            "to the column to predict"
        )
    dropped_last = cfg.target is None and require_target and bool(columns) and columns[-1] in cfg.drop
    for name in cfg.drop:
        if name not in columns:
            raise DataError(f"data.drop: column '{name}' does not exist in {where}; {did_you_mean(name, columns)}")
    frame = frame.drop(columns=list(cfg.drop))
    columns = list(frame.columns)
    target = cfg.target
    if target is None:
        target = columns[-1] if require_target else None
        if dropped_last and target is not None:
            logger.warning(
                "data.target is unset, so the target is '%s', the last column of %s left after data.drop; "
                "set data.target to choose it (and silence this warning)",
                target,
                where,
            )
    elif target not in columns:
        if require_target:
            raise DataError(
                f"data.target: column '{target}' does not exist in {where}; {did_you_mean(target, columns)}"
            )
        target = None
    for key, forced in (("categorical", cfg.categorical), ("numeric", cfg.numeric)):
        for name in forced or ():
            if name not in columns and name != cfg.target:
                raise DataError(f"data.{key}: column '{name}' does not exist in {where}; {did_you_mean(name, columns)}")
    if len(columns) - (target is not None) < 1:
        raise DataError(f"data: {where} has no feature columns besides the target '{target}'")
    return RawTable(frame.reset_index(drop=True), target)


def _load_builtin(name: str) -> RawTable | RawArrays:
    """Load a scikit-learn bundled dataset; class targets become their names (e.g. iris species)."""
    if name == "digits":  # read without importing scikit-learn (about 1.4 s of CPU)
        # float32 pixel counts 0..16, so the preprocessor scales by the training max (16), not 255
        x, y = read_digits()
        return RawArrays(x[:, None], y, True)
    from sklearn import datasets  # heavy import, only when a tabular built-in is asked for

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }
    bunch = loaders[name](as_frame=True)
    frame = bunch.frame.copy()
    if BUILTIN_DATASETS[name].task == "classification":
        frame["target"] = np.asarray(bunch.target_names, dtype=object)[bunch.target.to_numpy()]
    return RawTable(frame, "target")
