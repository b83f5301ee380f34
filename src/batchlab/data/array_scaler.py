"""Scaling vectors ``(n, d)`` and images ``(n, C, H, W)`` with statistics of the training split.

Vectors are treated like numeric table columns, per feature: NaN / ±inf take the training median,
then ``standard`` (mean / std), ``minmax`` (to [0, 1]) or ``none``. Arrays of more than 2**24 values
are fitted block by block (no float64 copy of the data), their fill value being the median of a
strided sample of rows.

Images are first divided by a ``divisor`` chosen from the training split: 1 when its largest value
is ≤ 1, 255 for uint8 data, else that largest value (the built-in ``digits`` has 16). Then
``minmax`` stops there ([0, 1]); ``standard`` also standardizes each channel with the training
per-channel mean and std (shape ``(C,)``); ``none`` keeps the raw values (divisor 1). Non-finite
pixels take the training per-channel median (estimated from up to a million pixels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from batchlab.data.moments import Moments
from batchlab.errors import DataError

__all__ = ["ArrayScaler"]

_MEDIAN_SAMPLE = 1_000_000
_CHUNK_ROWS = 4096
_EXACT_VALUES = 1 << 24  # vectors up to this many values are fitted from one float64 copy (≤ 128 MiB)
_MEDIAN_ROWS = 65_536  # larger ones take their fill value from a sample of up to this many rows
_MEDIAN_VALUES = 1 << 22  # and up to this many values (32 MiB in float64), at least 1024 rows
_MEDIAN_COLUMNS = 8  # columns of the sample converted to float64 at once
_BLOCK_VALUES = 1 << 18  # and sum blocks of about this many values (2 MiB in float64)


class ArrayScaler:
    """Fits and applies the scaling of vectors or images.

    Args:
        scale: ``"standard"``, ``"minmax"`` or ``"none"``.
        missing: ``"impute"`` or ``"error"`` (any NaN / ±inf raises).

    Attributes:
        image_: whether the fitted data are images.
        input_shape_: shape of one sample, ``(d,)`` or ``(C, H, W)``.
        divisor_: images: the value that maps pixels to [0, 1] (1.0 for vectors).
        fill_: per-feature (vectors, ``(d,)``) or per-channel (images, ``(C,)``) training median,
            in raw units, for missing values.
        center_: subtracted after division, per feature or per channel.
        scale_: divided by after centering, per feature or per channel (never 0).
    """

    image_: bool
    input_shape_: tuple[int, ...]
    divisor_: float
    fill_: np.ndarray
    center_: np.ndarray
    scale_: np.ndarray

    def __init__(self, *, scale: str = "standard", missing: str = "impute") -> None:
        self.scale = scale
        self.missing = missing

    def fit(self, x: np.ndarray, *, image: bool) -> ArrayScaler:
        """Learn the scaling from training features ``x``, shape ``(n, d)`` or ``(n, C, H, W)``.

        Raises:
            DataError: a non-finite value with ``missing="error"``.
        """
        self.image_ = image
        self.input_shape_ = tuple(int(s) for s in x.shape[1:])
        self._check_finite(x)
        if not image:
            self.divisor_ = 1.0
            fit = self._fit_vectors if x.size <= _EXACT_VALUES else self._fit_vectors_in_chunks
            self.center_, spread = fit(x)
            self.scale_ = np.where(spread > 0, spread, 1.0)
            return self
        channels = x.shape[1]
        self.fill_ = np.array([_sampled_median(x[:, c]) for c in range(channels)])
        self.divisor_ = 1.0 if self.scale == "none" else _divisor(x)
        self.center_, self.scale_ = np.zeros(channels), np.ones(channels)
        if self.scale == "standard":
            mean, std = self._channel_moments(x)
            self.center_, self.scale_ = mean, np.where(std > 0, std, 1.0)
        return self

    def transform(self, x: np.ndarray, *, in_place: bool = False) -> np.ndarray:
        """Scale features with the fitted state; returns float32 of the same shape as ``x``.

        With ``in_place``, a writable C-contiguous float32 ``x`` is scaled where it is (and returned),
        which saves a copy of the data; otherwise ``x`` is left unchanged.

        Raises:
            DataError: the sample shape differs from training; a non-finite value with ``missing="error"``.
        """
        shape = tuple(int(s) for s in x.shape[1:])
        if shape != self.input_shape_:
            what = "images" if self.image_ else "feature vectors"
            raise DataError(
                f"data: the input has {what} of shape {_fmt(shape)} but the model was trained on "
                f"{_fmt(self.input_shape_)}"
            )
        self._check_finite(x)
        reuse = in_place and x.dtype == np.float32 and x.flags.writeable and x.flags.c_contiguous
        out = x if reuse else x.astype(np.float32)
        fill = self.fill_ if not self.image_ else self.fill_[None, :, None, None]
        center = self.center_ if not self.image_ else self.center_[None, :, None, None]
        scale = self.scale_ if not self.image_ else self.scale_[None, :, None, None]
        fill32 = fill.astype(np.float32)
        for start in range(0, out.shape[0], _CHUNK_ROWS):  # by blocks: no mask as large as the data
            part = out[start : start + _CHUNK_ROWS]
            bad = ~np.isfinite(part)
            if bad.any():
                np.copyto(part, np.broadcast_to(fill32, part.shape), where=bad)
        if self.divisor_ != 1.0:
            out /= np.float32(self.divisor_)
        out -= center.astype(np.float32)
        out /= scale.astype(np.float32)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted state as JSON-serializable values."""
        return {
            "scale": self.scale,
            "missing": self.missing,
            "image": self.image_,
            "input_shape": list(self.input_shape_),
            "divisor": self.divisor_,
            "fill": self.fill_.tolist(),
            "center": self.center_.tolist(),
            "scale_by": self.scale_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ArrayScaler:
        """Rebuild a fitted scaler from :meth:`state_dict`."""
        scaler = cls(scale=state["scale"], missing=state["missing"])
        scaler.image_ = bool(state["image"])
        scaler.input_shape_ = tuple(int(s) for s in state["input_shape"])
        scaler.divisor_ = float(state["divisor"])
        scaler.fill_ = np.asarray(state["fill"], dtype=np.float64)
        scaler.center_ = np.asarray(state["center"], dtype=np.float64)
        scaler.scale_ = np.asarray(state["scale_by"], dtype=np.float64)
        return scaler

    def _check_finite(self, x: np.ndarray) -> None:
        if self.missing != "error" or not np.issubdtype(x.dtype, np.floating):
            return
        for start in range(0, x.shape[0], _CHUNK_ROWS):  # by blocks: no mask as large as the data
            part = x[start : start + _CHUNK_ROWS]
            bad = ~np.isfinite(part)
            if not bad.any():
                continue
            where = np.unravel_index(int(np.argmax(bad)), part.shape)
            index = tuple(int(i) for i in where[1:])
            feature = f"pixel (channel, row, column) {index}" if self.image_ else f"feature {index[0]}"
            raise DataError(
                f"data: the features hold a missing value ({part[where]}) at row {start + int(where[0]) + 1}, "
                f"{feature}, and data.missing is 'error'; fill it in, or set data.missing: impute"
            )

    def _fit_vectors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fill, then (center, spread) of vectors ``(n, d)`` from a float64 copy: exact medians."""
        values = x.astype(np.float64)
        self.fill_ = _median_fill(values)
        values = np.where(np.isnan(values), self.fill_, values)
        if self.scale == "standard":
            return values.mean(axis=0), values.std(axis=0)
        if self.scale == "minmax":
            return values.min(axis=0), values.max(axis=0) - values.min(axis=0)
        return np.zeros(x.shape[1]), np.ones(x.shape[1])

    def _fit_vectors_in_chunks(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same for arrays too large to copy: sums over blocks of rows, the fill from a row sample.

        The fill is the median of an evenly strided sample of rows (65,536 or, for wide rows, about
        4 million values; as for streamed data); means, standard deviations and extremes cover every
        row, missing values counted as the fill. Memory: one block and the sample, not a float64 copy.
        """
        n, features = x.shape
        sample_rows = max(1024, min(_MEDIAN_ROWS, _MEDIAN_VALUES // max(1, features)))
        sample = x[:: max(1, n // sample_rows)]  # a view; converted a few columns at a time (medians are per column)
        self.fill_ = np.concatenate(
            [
                _median_fill(sample[:, start : start + _MEDIAN_COLUMNS].astype(np.float64))
                for start in range(0, features, _MEDIAN_COLUMNS)
            ]
        )
        moments = Moments((0,))
        block = max(1, _BLOCK_VALUES // max(1, features))
        for start in range(0, n, block):
            moments.add(x[start : start + block] - self.fill_)  # float64, centered: no cancellation
        mean, std, low, high = moments.filled(np.zeros(features))
        if self.scale == "standard":
            return mean + self.fill_, std
        if self.scale == "minmax":
            return low + self.fill_, high - low
        return np.zeros(features), np.ones(features)

    def _channel_moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std of the divided, imputed training images, in chunks of rows."""
        channels = x.shape[1]
        total, squares, count = np.zeros(channels), np.zeros(channels), 0
        for start in range(0, x.shape[0], _CHUNK_ROWS):
            chunk = x[start : start + _CHUNK_ROWS].astype(np.float64)
            if not np.isfinite(chunk).all():
                chunk = np.where(np.isfinite(chunk), chunk, self.fill_[None, :, None, None])
            chunk /= self.divisor_
            total += chunk.sum(axis=(0, 2, 3))
            squares += np.square(chunk).sum(axis=(0, 2, 3))
            count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
        mean = total / count
        return mean, np.sqrt(np.maximum(squares / count - mean**2, 0.0))


def _divisor(x: np.ndarray) -> float:
    """1 when the training max is ≤ 1; 255 for uint8; else the training max itself."""
    largest = (
        float(np.max(x))
        if not np.issubdtype(x.dtype, np.floating)
        else float(np.nanmax(np.where(np.isfinite(x), x, np.nan)))
    )
    if not np.isfinite(largest) or largest <= 1.0:
        return 1.0
    if x.dtype == np.uint8:
        return 255.0
    return largest


def _median_fill(values: np.ndarray) -> np.ndarray:
    """Per-column median of the finite values of float64 ``values`` ``(n, d)`` (0 for a column with none).

    Non-finite entries of ``values`` are set to NaN in place.
    """
    values[~np.isfinite(values)] = np.nan
    fill = np.nanmedian(values, axis=0) if np.isnan(values).any() else np.median(values, axis=0)
    filled: np.ndarray = np.nan_to_num(fill, nan=0.0)
    return filled


def _sampled_median(channel: np.ndarray) -> float:
    """Median of the finite values of one channel, from an evenly strided sample of ≤ 1e6 values."""
    flat = channel.reshape(-1)
    flat = flat[:: max(1, flat.size // _MEDIAN_SAMPLE)].astype(np.float64)
    finite = flat[np.isfinite(flat)]
    return float(np.median(finite)) if finite.size else 0.0


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)
