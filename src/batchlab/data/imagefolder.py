"""Reading a folder of images: one sub-folder per class, or a flat folder of unlabelled images.

``root/cat/001.png, root/dog/002.jpg, ...`` gives classes ``cat`` and ``dog`` (sorted folder names).
All images become one ``(n, C, H, W)`` uint8 array: ``C = 1`` when every image is grayscale,
otherwise ``C = 3`` (RGB), unless ``channels`` asks for one of them. Images must share a size unless
``image_size`` asks to resize them. Prediction input is read with the trained model's channels and size,
so that new images of any size and colour mode fit the model.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from batchlab.data.audio.reading import AUDIO_SUFFIXES
from batchlab.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "ImageFolder", "read_image_folder"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_GRAY_MODES = ("1", "L", "LA")


@dataclass(frozen=True)
class ImageFolder:
    """The images of a folder.

    Attributes:
        x: images, shape ``(n, C, H, W)``, dtype uint8.
        y: class name of each image, shape ``(n,)``, or ``None`` for a flat folder.
        files: each image's path relative to the folder, in row order.
    """

    x: np.ndarray
    y: np.ndarray | None
    files: tuple[str, ...]


def read_image_folder(
    root: Path, *, image_size: tuple[int, int] | None, field: str, require_target: bool, channels: int | None = None
) -> ImageFolder:
    """Load every image under ``root``.

    Args:
        root: a folder with one sub-folder per class, or (unlabelled input) images directly inside.
        image_size: ``(height, width)`` in pixels to resize every image to (bilinear); ``None``
            requires all images to share a size.
        field: the config field that named ``root``, for error messages.
        require_target: a flat folder without class sub-folders is an error when true.
        channels: 1 (grayscale) or 3 (RGB) to convert every image to; ``None`` picks 1 when every image
            is grayscale, else 3.

    Returns:
        An :class:`ImageFolder`; rows are ordered by class name, then file name.

    Raises:
        DataError: no images; no class folders when they are required; an unreadable image;
            sizes that differ while ``image_size`` is unset.
    """
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[Path] = []
    labels: list[str] = []
    for folder in class_dirs:
        found = _images_in(folder)
        if not found:
            logger.warning("class folder '%s' holds no images (%s); it is skipped", folder, ", ".join(IMAGE_SUFFIXES))
        files += found
        labels += [folder.name] * len(found)
    labelled = bool(files)
    if not labelled:
        files = _images_in(root)
        if files and require_target:
            raise DataError(
                f"{field}: folder '{root}' holds images but no class sub-folders; put each class's "
                "images in a sub-folder named after the class"
            )
    elif _images_in(root):
        logger.warning("images directly inside '%s' are ignored; only those in class sub-folders are used", root)
    if not files:  # a folder of recordings would have been read as audio: name both kinds of folder
        raise DataError(
            f"{field}: folder '{root}' holds no images ({', '.join(IMAGE_SUFFIXES)}) "
            f"or recordings ({', '.join(AUDIO_SUFFIXES)})"
        )

    modes, sizes = _scan(files, field=field)
    gray = all(mode in _GRAY_MODES for mode in modes) if channels is None else channels == 1
    if image_size is None:
        distinct = sorted(set(sizes))
        if len(distinct) > 1:
            first = files[sizes.index(distinct[0])]
            other = files[sizes.index(distinct[1])]
            raise DataError(
                f"{field}: images in '{root}' have different sizes ({_wxh(distinct[0])} in "
                f"'{first.relative_to(root)}', {_wxh(distinct[1])} in '{other.relative_to(root)}'); "
                "set data.image_size: [height, width] to resize them"
            )
        height, width = sizes[0][1], sizes[0][0]
    else:
        height, width = image_size
    x = np.empty((len(files), 1 if gray else 3, height, width), dtype=np.uint8)
    for i, path in enumerate(files):  # decoding is per file; there is no vectorized alternative
        try:
            with Image.open(path) as image:
                converted = image.convert("L" if gray else "RGB")
        except OSError as exc:
            raise DataError(f"{field}: image '{path}' cannot be decoded ({exc.__class__.__name__})") from None
        if converted.size != (width, height):
            converted = converted.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(converted, dtype=np.uint8)
        x[i] = pixels[None] if gray else pixels.transpose(2, 0, 1)
    y = np.array(labels, dtype=str) if labelled else None
    return ImageFolder(x, y, tuple(str(p.relative_to(root)) for p in files))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _scan(files: list[Path], *, field: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Mode and ``(width, height)`` of each image, read from the headers without decoding pixels."""
    modes, sizes = [], []
    for path in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    modes.append("L" if image.mode == "P" and _gray_palette(image) else image.mode)
                    sizes.append(image.size)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(_too_large(path, field)) from None
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{field}: image '{path}' cannot be read ({exc.__class__.__name__})") from None
        if Image.MAX_IMAGE_PIXELS and sizes[-1][0] * sizes[-1][1] > Image.MAX_IMAGE_PIXELS:
            raise DataError(_too_large(path, field, sizes[-1]))
    return modes, sizes


def _too_large(path: Path, field: str, size: tuple[int, int] | None = None) -> str:
    """The message for an image above Pillow's decompression-bomb limit."""
    if size is None:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # read the header's size, decode nothing
        try:
            with contextlib.suppress(Exception), Image.open(path) as image:
                size = image.size
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    pixels = f"{_wxh(size)}, {size[0] * size[1] / 1e6:.0f} million pixels" if size else "too many pixels"
    millions = (Image.MAX_IMAGE_PIXELS or 0) / 1e6
    return (
        f"{field}: image '{path}' is {pixels}, above the limit of {millions:.0f} million for an image here "
        "(a decompression bomb?); shrink it or remove it"
    )


def _gray_palette(image: Image.Image) -> bool:
    """Whether a palette image (GIF, some PNGs) uses only gray colours (R = G = B)."""
    palette = image.getpalette()
    if not palette:
        return False
    colours = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    return bool(np.all(colours[:, 0] == colours[:, 1]) and np.all(colours[:, 1] == colours[:, 2]))


def _wxh(size: tuple[int, int]) -> str:
    return f"{size[1]}x{size[0]} (HxW)"
