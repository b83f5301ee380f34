"""The simple gradient noise scale ``B_simple = tr(Sigma) / |G|^2`` (McCandlish et al. 2018, appendix A).

``G`` is the true gradient (the mean over the data) and ``Sigma`` the covariance of per-example gradients.
A mini-batch gradient of ``B`` samples drawn independently has ``E|G_B|^2 = |G|^2 + tr(Sigma) / B``. Squared
norms measured at two batch sizes at the same weights give unbiased estimates of both terms::

    |G|^2    ~ (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)
    tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1 / B_small - 1 / B_big)

Each estimate is noisy (it can even be negative), so both are averaged over many measurements, here with an
exponential moving average, before dividing. ``B_simple`` predicts the critical batch size ``B_crit``.

Drawing a batch *without* replacement from a finite training set of ``N`` samples shrinks the noise term
by ``(N - B) / (N - 1)``; pass ``population=N`` to correct for it (the formulas above are its ``N -> inf``
limit). Under data-parallel training the two sizes are the local and the global gradient.

This module is pure: numbers in, numbers out.

>>> est = unbiased_estimates(g_small_sq=3.0, g_big_sq=1.5, b_small=8, b_big=32)
>>> round(est.grad_sq, 6), round(est.trace, 6), round(est.noise_scale, 3)
(1.0, 16.0, 16.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["NoiseEMA", "NoiseEstimate", "noise_weight", "simple_noise_scale", "unbiased_estimates"]


@dataclass(frozen=True)
class NoiseEstimate:
    """Unbiased estimates from one pair of measurements.

    Attributes:
        grad_sq: ``|G|^2``, the squared norm of the true gradient (loss units squared per parameter).
        trace: ``tr(Sigma)``, the summed per-example gradient variance.
    """

    grad_sq: float
    trace: float

    @property
    def noise_scale(self) -> float:
        """``trace / grad_sq`` of this pair alone (noisy; prefer :class:`NoiseEMA`)."""
        return simple_noise_scale(self.trace, self.grad_sq)


def noise_weight(batch_size: float, population: float | None = None) -> float:
    """How much per-example variance a batch mean keeps: ``E|G_B|^2 = |G|^2 + w * tr(Sigma)``.

    Args:
        batch_size: samples in the batch, ``B``.
        population: ``N`` when the batch is drawn without replacement from ``N`` samples
            (``Sigma`` then being the population covariance, normalized by ``N``); ``None`` for
            independent draws.

    Returns:
        ``1 / B``, or ``(N - B) / (B (N - 1))`` without replacement.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if population is None:
        return 1.0 / batch_size
    if population <= 1 or batch_size > population:
        raise ValueError(f"population {population} must exceed 1 and hold the batch of {batch_size}")
    return (population - batch_size) / (batch_size * (population - 1))


def unbiased_estimates(
    *, g_small_sq: float, g_big_sq: float, b_small: float, b_big: float, population: float | None = None
) -> NoiseEstimate:
    """Unbiased ``|G|^2`` and ``tr(Sigma)`` from squared gradient norms at two batch sizes.

    Args:
        g_small_sq: ``|G_small|^2``, the squared norm of a gradient of ``b_small`` samples (or the mean
            of several such squared norms).
        g_big_sq: ``|G_big|^2``, the squared norm of a gradient of ``b_big`` samples.
        b_small: samples behind ``g_small_sq``.
        b_big: samples behind ``g_big_sq`` (larger than ``b_small``).
        population: training-set size when batches are drawn without replacement; see :func:`noise_weight`.
    """
    if not b_big > b_small:
        raise ValueError(f"b_big ({b_big}) must be larger than b_small ({b_small})")
    w_small, w_big = noise_weight(b_small, population), noise_weight(b_big, population)
    # Solve E|G_b|^2 = |G|^2 + w_b tr(Sigma) for the two sizes.
    trace = (g_small_sq - g_big_sq) / (w_small - w_big)
    grad_sq = (w_small * g_big_sq - w_big * g_small_sq) / (w_small - w_big)
    return NoiseEstimate(grad_sq=grad_sq, trace=trace)


def simple_noise_scale(trace: float, grad_sq: float) -> float:
    """``B_simple = tr(Sigma) / |G|^2`` in samples; ``inf`` when ``|G|^2 <= 0`` (all noise, no signal)."""
    if grad_sq <= 0:
        return math.inf
    return trace / grad_sq


class NoiseEMA:
    """Exponential moving averages of ``|G|^2`` and ``tr(Sigma)``, bias-corrected as in Adam.

    Args:
        decay: weight of the past at each update, in [0, 1); 0.9 averages over about 10 measurements.

    Example:
        >>> ema = NoiseEMA(decay=0.5)
        >>> ema.update(NoiseEstimate(grad_sq=1.0, trace=10.0))
        >>> ema.update(NoiseEstimate(grad_sq=3.0, trace=10.0))
        >>> round(ema.grad_sq, 4), round(ema.noise_scale, 4)
        (2.3333, 4.2857)
    """

    def __init__(self, decay: float = 0.9) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.count = 0
        self._grad_sq = 0.0
        self._trace = 0.0

    def update(self, estimate: NoiseEstimate) -> None:
        """Fold in one pair of estimates (non-finite ones are skipped)."""
        if not (math.isfinite(estimate.grad_sq) and math.isfinite(estimate.trace)):
            return
        self.count += 1
        self._grad_sq = self.decay * self._grad_sq + (1.0 - self.decay) * estimate.grad_sq
        self._trace = self.decay * self._trace + (1.0 - self.decay) * estimate.trace

    @property
    def _correction(self) -> float:
        return 1.0 - self.decay**self.count if self.count else math.nan

    @property
    def grad_sq(self) -> float:
        """Averaged ``|G|^2`` (NaN before the first update)."""
        return self._grad_sq / self._correction

    @property
    def trace(self) -> float:
        """Averaged ``tr(Sigma)`` (NaN before the first update)."""
        return self._trace / self._correction

    @property
    def noise_scale(self) -> float:
        """``B_simple`` from the averages, in samples (NaN before the first update)."""
        if not self.count:
            return math.nan
        return simple_noise_scale(self.trace, self.grad_sq)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "count": self.count, "grad_sq": self._grad_sq, "trace": self._trace}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.count = int(state["count"])
        self._grad_sq = float(state["grad_sq"])
        self._trace = float(state["trace"])
