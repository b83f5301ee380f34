"""Tests of batchlab.data.idx: MNIST-format IDX files, plain and gzipped, through load_source."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from batchlab.config import DataConfig
from batchlab.data.idx import find_labels_beside, parse_idx
from batchlab.data.sources import RawArrays, load_source
from batchlab.errors import DataError

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _idx_bytes(values: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: magic (0, 0, 0x08, ndim), big-endian dims, values."""
    header = bytes([0, 0, 0x08, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    return header + values.astype(np.uint8).tobytes()


def _write_pair(folder: Path, images: np.ndarray, labels: np.ndarray, *, gz: bool) -> Path:
    suffix = ".gz" if gz else ""
    image_path = folder / f"small-images-idx3-ubyte{suffix}"
    label_path = folder / f"small-labels-idx1-ubyte{suffix}"
    for path, values in ((image_path, images), (label_path, labels)):
        data = _idx_bytes(values)
        path.write_bytes(gzip.compress(data) if gz else data)
    return image_path


def _load(path: Path, **options: object) -> RawArrays:
    raw = load_source(DataConfig(source=str(path), **options))  # type: ignore[arg-type]
    assert isinstance(raw, RawArrays)
    return raw


def test_mnist_test_split_is_parsed(shared_data: Path) -> None:
    raw = _load(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert raw.image and raw.x.shape == (10000, 1, 28, 28) and raw.x.dtype == np.uint8
    assert raw.x.max() == 255
    assert raw.y is not None and np.bincount(raw.y).tolist() == MNIST_TEST_COUNTS
    assert raw.y[:5].tolist() == [7, 2, 1, 0, 4]


@pytest.mark.parametrize("gz", [True, False])
def test_small_idx_pair_round_trips(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    raw = _load(_write_pair(tmp_path, images, labels, gz=gz))
    assert raw.x.shape == (5, 1, 3, 4)
    assert np.array_equal(raw.x[:, 0], images)
    assert raw.y is not None and raw.y.tolist() == [3, 1, 4, 1, 5]


def test_idx_is_recognised_by_magic_number_without_idx_in_the_name(tmp_path: Path) -> None:
    images = np.zeros((2, 2, 2), dtype=np.uint8)
    (tmp_path / "pixels.bin").write_bytes(_idx_bytes(images))
    (tmp_path / "answers.bin").write_bytes(_idx_bytes(np.array([0, 1], dtype=np.uint8)))
    raw = _load(tmp_path / "pixels.bin", labels=str(tmp_path / "answers.bin"))
    assert raw.x.shape == (2, 1, 2, 2) and raw.y is not None and raw.y.tolist() == [0, 1]


def test_labels_file_name_is_derived_from_the_images_file() -> None:
    found = find_labels_beside(Path("d/t10k-images-idx3-ubyte.gz"))
    assert [p.name for p in found] == ["t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"]


def test_truncated_raw_idx_is_a_data_error(tmp_path: Path) -> None:
    path = _write_pair(tmp_path, np.zeros((4, 5, 5), dtype=np.uint8), np.zeros(4, dtype=np.uint8), gz=False)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"is truncated: its header promises shape \(4, 5, 5\) \(100 bytes\)"):
        _load(path)


def test_truncated_gzip_idx_is_a_data_error(tmp_path: Path) -> None:
    path = _write_pair(tmp_path, np.ones((40, 5, 5), dtype=np.uint8), np.zeros(40, dtype=np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"data\.source: file '.*small-images-idx3-ubyte\.gz' is truncated or corrupt"):
        _load(path)


def test_bad_magic_number_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"is not an IDX file \(magic number 12345678\)"):
        parse_idx(bytes.fromhex("12345678") + bytes(8), where="file 'x'")


def test_missing_labels_is_a_data_error_unless_predicting(tmp_path: Path) -> None:
    path = _write_pair(tmp_path, np.zeros((3, 2, 2), dtype=np.uint8), np.zeros(3, dtype=np.uint8), gz=False)
    (tmp_path / "small-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"no labels file beside .*'small-labels-idx1-ubyte.*set data\.labels"):
        _load(path)
    raw = load_source(DataConfig(source="unused"), str(path), require_target=False)
    assert isinstance(raw, RawArrays) and raw.y is None and raw.x.shape == (3, 1, 2, 2)


def test_label_count_must_match_image_count(tmp_path: Path) -> None:
    path = _write_pair(tmp_path, np.zeros((3, 2, 2), dtype=np.uint8), np.zeros(2, dtype=np.uint8), gz=True)
    with pytest.raises(DataError, match=r"has 2 labels but .* has 3 images"):
        _load(path)


def test_labels_file_as_source_is_a_data_error(tmp_path: Path) -> None:
    _write_pair(tmp_path, np.zeros((3, 2, 2), dtype=np.uint8), np.zeros(3, dtype=np.uint8), gz=False)
    with pytest.raises(DataError, match="is an IDX labels file"):
        _load(tmp_path / "small-labels-idx1-ubyte")
