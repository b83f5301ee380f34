"""The critical batch size from steps to a target: McCandlish et al. 2018 ("An empirical model of large-batch
training"), section 2.

Training to a fixed target with batch size ``B`` takes ``S`` optimizer steps and ``E = B * S`` samples. The
model says the pairs lie on the hyperbola::

    (S / S_min - 1) (E / E_min - 1) = 1

where ``S_min`` is the fewest steps (infinite batch) and ``E_min`` the fewest samples (batch of one). Along
the curve ``S = S_min (1 + B_crit / B)`` and ``E = E_min (1 + B / B_crit)`` with the critical batch size
``B_crit = E_min / S_min``: below it, doubling ``B`` nearly halves the steps (perfect scaling, the same
samples); above it, doubling ``B`` barely saves steps and nearly doubles the samples. At ``B = B_crit``
both cost twice their minimum.

The model is linear in ``(S_min, E_min)``: ``S = S_min + E_min / B``. The fit minimizes relative errors,
``sum(((S_min + E_min / B_i) - S_i) / S_i)^2``, because steps span orders of magnitude.

>>> fit = fit_critical_batch([8, 32, 128, 512], [1000 + 8000 / b for b in (8, 32, 128, 512)])
>>> round(fit.s_min), round(fit.e_min), round(fit.b_crit)
(1000, 8000, 8)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["CriticalBatchFit", "fit_critical_batch", "samples_on_curve", "steps_on_curve"]

FitStatus = Literal["fit", "perfect_scaling", "no_speedup", "insufficient"]

_EXTRAPOLATION = 10.0  # a knee more than 10x beyond the measured sizes is reported as outside them


@dataclass(frozen=True)
class CriticalBatchFit:
    """The fitted curve of steps and samples to a target against batch size.

    Attributes:
        s_min: fewest optimizer steps to the target (the limit of an infinite batch), in steps.
        e_min: fewest training samples to the target (the limit of a batch of one), in samples.
        b_crit: ``e_min / s_min``, in samples per step; ``inf`` when steps fell as ``1/B`` over every
            measured size, ``0`` when they did not fall at all.
        status: ``fit``; ``perfect_scaling`` (the knee lies beyond 10x the largest measured size, so
            only ``E_min`` is fitted); ``no_speedup`` (below a tenth of the smallest, so only ``S_min``
            is fitted); ``insufficient`` (fewer than two distinct sizes).
        points: how many (batch size, steps) points were fitted.
        rms_log_error: root-mean-square of ``ln(S_fit / S)`` over the points (0.1 is about 10%).
        size_range: the smallest and largest batch size fitted, in samples.
    """

    s_min: float
    e_min: float
    b_crit: float
    status: FitStatus
    points: int
    rms_log_error: float
    size_range: tuple[float, float]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready values (infinite ``b_crit`` becomes ``None``)."""
        return {
            "s_min": self.s_min,
            "e_min": self.e_min,
            "b_crit": self.b_crit if math.isfinite(self.b_crit) else None,
            "status": self.status,
            "points": self.points,
            "rms_log_error": self.rms_log_error,
            "size_range": list(self.size_range),
        }


def steps_on_curve(batch_size: float, s_min: float, e_min: float) -> float:
    """Steps to the target predicted for ``batch_size``: ``S_min + E_min / B``."""
    return s_min + e_min / batch_size


def samples_on_curve(batch_size: float, s_min: float, e_min: float) -> float:
    """Samples to the target predicted for ``batch_size``: ``E_min + S_min * B``."""
    return e_min + s_min * batch_size


def fit_critical_batch(batch_sizes: Sequence[float], steps: Sequence[float]) -> CriticalBatchFit:
    """Fit ``S_min`` and ``E_min`` to measured steps-to-target (several seeds per size are fine).

    Args:
        batch_sizes: effective batch of each point, in samples per step.
        steps: optimizer steps each point took to first reach the target (positive).

    Returns:
        The fit; ``S_min`` and ``E_min`` are constrained to be non-negative.
    """
    b = np.asarray(batch_sizes, dtype=np.float64)
    s = np.asarray(steps, dtype=np.float64)
    if b.shape != s.shape:
        raise ValueError(f"{len(b)} batch sizes but {len(s)} step counts")
    keep = (b > 0) & (s > 0) & np.isfinite(s)
    b, s = b[keep], s[keep]
    size_range = (float(b.min()), float(b.max())) if len(b) else (math.nan, math.nan)
    if len(np.unique(b)) < 2:
        return CriticalBatchFit(math.nan, math.nan, math.nan, "insufficient", len(b), math.nan, size_range)
    # Relative residuals: (S_min / S_i) + (E_min / (B_i S_i)) - 1.
    design = np.stack([1.0 / s, 1.0 / (b * s)], axis=1)
    (s_min, e_min), *_ = np.linalg.lstsq(design, np.ones_like(s), rcond=None)
    status: FitStatus = "fit"
    low, high = size_range
    if s_min <= 0 or e_min > _EXTRAPOLATION * high * s_min:
        # Steps fall as 1/B everywhere measured: E = const, the knee is beyond the largest size.
        s_min, e_min, status = 0.0, _one_parameter(design[:, 1]), "perfect_scaling"
    elif e_min <= 0 or e_min * _EXTRAPOLATION < low * s_min:
        # Steps do not fall with B at all: the knee is below the smallest size.
        s_min, e_min, status = _one_parameter(design[:, 0]), 0.0, "no_speedup"
    predicted = s_min + e_min / b
    rms = float(np.sqrt(np.mean(np.log(predicted / s) ** 2)))
    if status == "perfect_scaling":
        b_crit = math.inf
    elif status == "no_speedup":
        b_crit = 0.0
    else:
        b_crit = float(e_min / s_min)
    return CriticalBatchFit(float(s_min), float(e_min), b_crit, status, len(b), rms, size_range)


def _one_parameter(column: np.ndarray) -> float:
    """Least squares of ``column * x = 1``: ``x = sum(c) / sum(c^2)``."""
    return float(column.sum() / np.square(column).sum())
