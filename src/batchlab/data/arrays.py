"""Reading NumPy ``.npz`` / ``.npy`` files and bringing arrays into batchlab's layout.

Layout rules (:func:`array_layout`): features are ``(n, d)`` vectors or ``(n, C, H, W)`` images.
A 1-D array is one feature per row; ``(n, H, W)`` gains a channel axis; a 4-D array whose last axis
is 1 or 3 while its second is not is taken as channels-last ``(n, H, W, C)`` and transposed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from batchlab.data.mapped import map_npy
from batchlab.errors import DataError

__all__ = ["FEATURE_KEYS", "LABEL_KEYS", "array_layout", "label_vector", "read_npy", "read_npz"]

FEATURE_KEYS = ("x", "X", "features", "data", "inputs", "images")
"""Names under which an ``.npz`` file's features are looked for, in this order."""
LABEL_KEYS = ("y", "Y", "labels", "target", "targets")
"""Names under which an ``.npz`` file's labels are looked for, in this order."""


def read_npz(path: Path, *, field: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and labels from an ``.npz`` archive.

    Features are the first of :data:`FEATURE_KEYS` present, labels the first of :data:`LABEL_KEYS`;
    when a name is absent the first remaining array (in the archive's order) is used. An archive with
    a single array has no labels.

    Returns:
        ``(x, y)``: x as stored, shape ``(n, ...)``; y shape ``(n,)`` or ``None``.

    Raises:
        DataError: the archive is unreadable, empty or holds Python objects.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not names:
                raise DataError(f"{field}: file '{path}' holds no arrays")
            x_key = next((k for k in FEATURE_KEYS if k in names), None)
            y_key = next((k for k in LABEL_KEYS if k in names and k != x_key), None)
            rest = [k for k in names if k not in (x_key, y_key)]
            if x_key is None:
                x_key = rest.pop(0) if rest else None
            if y_key is None and rest:
                y_key = rest.pop(0)
            if x_key is None:  # only a labels array
                raise DataError(
                    f"{field}: file '{path}' holds only '{y_key}'; expected features under one of "
                    + ", ".join(FEATURE_KEYS)
                )
            x = archive[x_key]
            y = archive[y_key] if y_key is not None else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{field}: file '{path}' cannot be read as .npz ({_describe(exc)})") from None
    return x, y


def read_npy(path: Path, *, field: str, mapped: bool = False) -> np.ndarray:
    """One array from an ``.npy`` file.

    Args:
        path: the file.
        field: names the file in error messages.
        mapped: map the file read-only instead of loading it, when it can be (see
            :mod:`batchlab.data.mapped`: copy rows out of it with ``take_rows``, not fancy indexing).

    Raises:
        DataError: the file is unreadable or holds Python objects.
    """
    if mapped:
        array = map_npy(path)
        if array is not None:
            return array
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{field}: file '{path}' cannot be read as .npy ({_describe(exc)})") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{field}: file '{path}' is not a single .npy array")
    return array


def array_layout(x: np.ndarray, *, where: str) -> tuple[np.ndarray, bool]:
    """Bring features into ``(n, d)`` or ``(n, C, H, W)``.

    Args:
        x: features with samples on the first axis, ndim 1 to 4.
        where: names the source in error messages, e.g. ``"file 'x.npy'"``.

    Returns:
        ``(x, is_image)``; x is a view when no transpose is needed.

    Raises:
        DataError: the array is 0-D or has more than 4 dimensions, or holds no rows.
    """
    if np.iscomplexobj(x):
        raise DataError(
            f"data: the features of {where} are complex numbers ({x.dtype}); expected real numbers: store the "
            "real and imaginary parts as separate features (or the magnitude)"
        )
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"data: the features of {where} have dtype {x.dtype}; expected numbers")
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"data: the features of {where} hold no rows (shape {x.shape})")
    if x.ndim == 1:
        return x[:, None], False
    if x.ndim == 2:
        return x, False
    if x.ndim == 3:
        return x[:, None], True
    if x.ndim == 4:
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            return x.transpose(0, 3, 1, 2), True
        return x, True
    raise DataError(
        f"data: the features of {where} have shape {x.shape}; expected (n, features), (n, H, W), "
        "(n, C, H, W) or (n, H, W, C)"
    )


def label_vector(y: np.ndarray, n: int, *, where: str) -> np.ndarray:
    """Check labels against ``n`` feature rows and flatten ``(n, 1)`` to ``(n,)``.

    Raises:
        DataError: labels are not one per row.
    """
    if np.iscomplexobj(y):
        raise DataError(f"data: the labels of {where} are complex numbers ({y.dtype}); expected classes or real values")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"data: the labels of {where} have shape {y.shape}; expected one label per row, (n,)")
    if y.shape[0] != n:
        raise DataError(f"data: {where} has {n} feature rows but {y.shape[0]} labels; they must match")
    return y


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__
