"""``data.stream``: prepared data whose splits stay on disk and are read batch by batch.

:func:`prepare_stream` is what :func:`~batchlab.data.pipeline.prepare_data` returns when
``data.stream.enabled`` is true. The source is a ``.npy`` file, a Parquet file, or a folder of ``.npy``
or Parquet shards (see :mod:`batchlab.data.stream.layout` for where the target is). The rows are cut
into blocks of ``data.stream.block_rows`` consecutive rows, and whole blocks are assigned to train,
validation and test at random (seeded by ``data.split.seed``; not stratified), so that each split can
be read sequentially. The preprocessor is fitted in one pass over the training blocks
(:func:`~batchlab.data.stream.fit.fit_streamed`) and applied to every batch as it is read.

Memory does not grow with the data: a split is a list of block ids (8 bytes per block of rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from batchlab.data.prepared import PreparedData, Split
from batchlab.data.stream.batches import BlockSplit
from batchlab.data.stream.fit import fit_streamed
from batchlab.data.stream.layout import RowLayout
from batchlab.data.stream.rows import open_rows
from batchlab.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from batchlab.config import DataConfig
    from batchlab.data.preprocess import Preprocessor

__all__ = ["RowDecoder", "StreamedSplit", "prepare_stream"]


class RowDecoder:
    """Rows read from the stores → scaled float32 features and encoded targets, with a fitted preprocessor.

    Args:
        layout: where features and target are in the rows.
        preprocessor: fitted; its array scaler and target encoder are applied per batch.
    """

    def __init__(self, layout: RowLayout, preprocessor: Preprocessor) -> None:
        self.layout = layout
        self.scaler = preprocessor.features_
        self.target = preprocessor.target_
        classes = self.target.classes_
        self.class_values = None if classes is None else np.array([float(c) for c in classes])

    def __call__(self, parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``(x (b, *input_shape) float32, y (b,))``: int64 class indices or float32 scaled targets."""
        raw_x, raw_y = self.layout.split(parts)
        x = self.scaler.transform(raw_x)
        values = np.asarray(raw_y, dtype=np.float64)
        if not np.isfinite(values).all():
            raise DataError(f"data: a streamed row has a missing target ({values[~np.isfinite(values)][0]})")
        if self.class_values is None:
            return x, ((values - self.target.mean_) / self.target.std_).astype(np.float32)
        codes = np.clip(np.searchsorted(self.class_values, values), 0, len(self.class_values) - 1)
        unseen = self.class_values[codes] != values
        if unseen.any():
            raise DataError(
                f"data: a streamed row has the label {values[unseen][0]:g}, a class not seen in the training "
                f"split; known classes: {', '.join(self.target.classes_ or [])}"
            )
        return x, codes.astype(np.int64)


class StreamedSplit(Split):
    """A split whose rows stay on disk: iterate it with :class:`~batchlab.data.stream.batches.StreamBatches`.

    ``len()`` is its row count; ``x`` and ``y`` do not exist (touching them is an error that says so).

    Args:
        rows: the split's blocks of the stores.
        decode: rows → ``(x, y)`` arrays.
    """

    def __init__(self, rows: BlockSplit, decode: RowDecoder) -> None:  # no tensors: no Split.__init__
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "decode", decode)

    rows: BlockSplit
    decode: RowDecoder

    @property
    def x(self) -> torch.Tensor:
        raise DataError("data.stream: this split is streamed from disk and has no in-memory tensors")

    @property
    def y(self) -> torch.Tensor:
        raise DataError("data.stream: this split is streamed from disk and has no in-memory tensors")

    def __len__(self) -> int:
        return self.rows.num_rows

    def __iter__(self) -> Iterator[torch.Tensor]:
        raise DataError("data.stream: this split is streamed from disk and cannot be unpacked as tensors")


def prepare_stream(cfg: DataConfig, *, preprocessor: Preprocessor | None = None) -> PreparedData:
    """Open ``cfg.source`` for streaming, split it by blocks and fit (or reuse) the preprocessor.

    Args:
        cfg: the ``data`` section, with ``stream.enabled``.
        preprocessor: a fitted preprocessor to reuse (a run's saved state) instead of fitting one.

    Raises:
        DataError: the source cannot be streamed, or its rows do not fit the layout rules.
    """
    stream = cfg.stream
    sequential = _open(cfg, cfg.source, cfg.labels, random_access=False)
    layout = RowLayout.detect(sequential[0], sequential[1] if len(sequential) > 1 else None, f"'{cfg.source}'")
    stores = tuple(s for s in sequential if s is not None)
    train_blocks, val_blocks, test_blocks = _split_blocks(cfg, stores[0].num_rows)
    if preprocessor is None:
        preprocessor = fit_streamed(cfg, BlockSplit(stores, train_blocks, stream.block_rows), layout)
    if tuple(preprocessor.input_shape_) != layout.sample_shape:
        raise DataError(
            f"data: '{cfg.source}' has samples of shape {layout.sample_shape} but the preprocessor was fitted on "
            f"{tuple(preprocessor.input_shape_)}"
        )
    decode = RowDecoder(layout, preprocessor)
    random_access = stream.shuffle == "exact"
    train_stores = stores if not random_access else _open(cfg, cfg.source, cfg.labels, random_access=True)

    def held_out(blocks: np.ndarray, source: str | None) -> StreamedSplit | None:
        if source is not None:
            other = _open(cfg, source, None, random_access=False)
            other_layout = RowLayout.detect(other[0], None, f"'{source}'")
            if other_layout.sample_shape != layout.sample_shape:
                raise DataError(
                    f"data.split: '{source}' has samples of shape {other_layout.sample_shape}, "
                    f"the training data {layout.sample_shape}"
                )
            return StreamedSplit(
                BlockSplit.whole(*other, block_rows=stream.block_rows), RowDecoder(other_layout, preprocessor)
            )
        return StreamedSplit(BlockSplit(stores, blocks, stream.block_rows), decode) if len(blocks) else None

    return PreparedData(
        train=StreamedSplit(BlockSplit(tuple(train_stores), train_blocks, stream.block_rows), decode),
        val=held_out(val_blocks, cfg.split.val_source),
        test=held_out(test_blocks, cfg.split.test_source),
        preprocessor=preprocessor,
    )


def _open(cfg: DataConfig, source: str, labels: str | None, *, random_access: bool) -> tuple[Any, ...]:
    columns = _parquet_columns(Path(source), cfg) if _is_parquet(Path(source)) else None
    features = open_rows(source, reader=cfg.stream.reader, columns=columns, random_access=random_access)
    if labels is None:
        return (features,)
    return features, open_rows(labels, reader=cfg.stream.reader, random_access=random_access)


def _is_parquet(path: Path) -> bool:
    if path.is_dir():
        return any(p.suffix == ".parquet" for p in path.iterdir())
    return path.suffix == ".parquet"


def _parquet_columns(path: Path, cfg: DataConfig) -> list[str]:
    """Feature columns then the target column (``data.target``, else the last), minus ``data.drop``."""
    import pyarrow.parquet as pq

    first = path if path.is_file() else sorted(p for p in path.iterdir() if p.suffix == ".parquet")[0]
    names = list(pq.ParquetFile(first).schema_arrow.names)
    target = cfg.target or names[-1]
    if target not in names:
        raise DataError(f"data.target: column {target!r} is not in '{first}'; columns: {', '.join(names)}")
    return [n for n in names if n != target and n not in cfg.drop] + [target]


def _split_blocks(cfg: DataConfig, num_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block ids of train, validation and test (each sorted): whole blocks drawn at random."""
    split, block_rows = cfg.split, cfg.stream.block_rows
    count = -(-num_rows // block_rows)
    order = np.random.default_rng(split.seed).permutation(count)
    n_val = 0 if split.val_source else _blocks_for(split.val, count)
    n_test = 0 if split.test_source else _blocks_for(split.test, count)
    if n_val + n_test >= count:
        raise DataError(
            f"data.stream.block_rows: {num_rows} rows make {count} blocks of {block_rows}, too few to hold out "
            f"validation ({split.val}) and test ({split.test}) blocks and keep some for training; lower block_rows"
        )
    return np.sort(order[n_val + n_test :]), np.sort(order[:n_val]), np.sort(order[n_val : n_val + n_test])


def _blocks_for(fraction: float, count: int) -> int:
    return 0 if fraction <= 0 else max(1, round(fraction * count))
