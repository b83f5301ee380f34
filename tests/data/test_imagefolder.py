"""Tests of batchlab.data.imagefolder: class folders of images, through load_source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from batchlab.config import DataConfig
from batchlab.data.sources import RawArrays, load_source
from batchlab.errors import DataError


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _gray(value: int, height: int = 5, width: int = 6) -> np.ndarray:
    return np.full((height, width), value, dtype=np.uint8)


def _load(root: Path, *, require_target: bool = True, **options: object) -> RawArrays:
    cfg = DataConfig(source=str(root), **options)  # type: ignore[arg-type]
    raw = load_source(cfg, require_target=require_target)
    assert isinstance(raw, RawArrays)
    return raw


def test_grayscale_class_folders(tmp_path: Path) -> None:
    _save(tmp_path / "zebra" / "a.png", _gray(10))
    _save(tmp_path / "cat" / "b.png", _gray(20))
    _save(tmp_path / "cat" / "c.bmp", _gray(30))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    raw = _load(tmp_path)
    assert raw.image and raw.x.shape == (3, 1, 5, 6) and raw.x.dtype == np.uint8
    assert raw.y is not None and raw.y.tolist() == ["cat", "cat", "zebra"]  # sorted classes, then files
    assert raw.x[:, 0, 0, 0].tolist() == [20, 30, 10]
    assert raw.files == ("cat/b.png", "cat/c.bmp", "zebra/a.png")


def test_any_colour_image_makes_all_rgb(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "g.png", _gray(50))
    rgb = np.zeros((5, 6, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 7
    _save(tmp_path / "b" / "c.png", rgb)
    raw = _load(tmp_path)
    assert raw.x.shape == (2, 3, 5, 6)
    assert raw.x[0, :, 0, 0].tolist() == [50, 50, 50]
    assert raw.x[1, :, 0, 0].tolist() == [200, 0, 7]


def test_mismatched_sizes_without_image_size_is_a_data_error(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "small.png", _gray(1, 4, 4))
    _save(tmp_path / "b" / "big.png", _gray(1, 8, 6))
    with pytest.raises(DataError, match=r"images in .* have different sizes .*set data\.image_size"):
        _load(tmp_path)


def test_image_size_resizes_every_image(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "small.png", _gray(40, 4, 4))
    _save(tmp_path / "b" / "big.jpg", _gray(90, 8, 6))
    raw = _load(tmp_path, image_size=(3, 7))
    assert raw.x.shape == (2, 1, 3, 7)
    assert raw.x[0].min() == raw.x[0].max() == 40  # a flat image stays flat when resized


def test_flat_folder_loads_without_labels_for_prediction(tmp_path: Path) -> None:
    _save(tmp_path / "one.png", _gray(1))
    _save(tmp_path / "two.gif", _gray(2))
    raw = _load(tmp_path, require_target=False)
    assert raw.y is None and raw.x.shape == (2, 1, 5, 6) and raw.files == ("one.png", "two.gif")


def test_flat_folder_for_training_is_a_data_error(tmp_path: Path) -> None:
    _save(tmp_path / "one.png", _gray(1))
    with pytest.raises(DataError, match="holds images but no class sub-folders"):
        _load(tmp_path)


def test_folder_without_images_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("hi")
    with pytest.raises(DataError, match=r"data\.source: folder '.*' holds no images \(\.png"):
        _load(tmp_path)


def test_unreadable_image_is_a_data_error(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "ok.png", _gray(1))
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"image '.*broken\.png' cannot be read"):
        _load(tmp_path)
