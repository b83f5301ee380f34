"""The Hessian-aware gradient noise scale ``B_noise = tr(H Sigma) / (G^T H G)`` from gradient moments.

McCandlish et al. (2018, "An Empirical Model of Large-Batch Training", section 2.2 and appendix A) expand
the loss to second order along a noisy step ``-eps G_B``, where ``G_B`` is the mean gradient of ``B``
samples: ``E[L(theta - eps G_B)] = L - eps |G|^2 + eps^2/2 (G^T H G + tr(H Sigma) / B)``. Minimizing over
``eps`` gives the optimal step and the improvement it buys::

    eps_opt(B) = eps_max / (1 + B_noise / B),   eps_max = |G|^2 / (G^T H G),   B_noise = tr(H Sigma) / (G^T H G)

``B_noise`` is the batch at which the noise costs half of the achievable progress per step: the paper's
prediction of the critical batch. ``B_simple = tr(Sigma) / |G|^2`` is the same quantity when ``H`` is a
multiple of the identity (well-conditioned), and can differ from ``B_noise`` by a large factor otherwise.

**The batch at the rate trained with** (``b_temperature``). A run does not train at ``eps_opt(B)``, but
at the rate of its schedule ``eps``. Solving ``eps = eps_opt(B)`` for ``B`` gives the batch for which the
rate actually used is the optimal step::

    B_eps = B_noise / (eps_max / eps - 1)      (finite only when eps < eps_max)

It is the paper's "temperature" view (the noise of SGD is set by ``eps / B``): at a fixed rate, growing
the batch helps until ``B_eps``, beyond which the step ``eps`` is already what a noiseless gradient
would want. For SGD with momentum ``mu`` the step that matters is ``eps / (1 - mu)``. The analysis is
for plain SGD: for Adam and other preconditioned optimizers ``eps`` is not a step in gradient units and
``B_eps`` is at best indicative.

**Estimators.** The inputs are moments of per-example gradients ``g_i`` (``n`` of them, drawn from the
training set) gathered in ``k`` groups of ``s = n / k`` consecutive examples with group means
``m_c``, and Hessian-vector products ``H m_c``:

* ``gram[c, d] = m_c . m_d`` and ``quad[c, d] = m_c^T H m_d``, both ``(k, k)``;
* ``sq_norms[c] = sum of |g_i|^2`` over the examples of group ``c``, ``(k,)``.

Then, with ``G_n`` the mean of all ``n`` gradients, ``tr(Sigma)`` is the per-example sample variance
``(sum_i |g_i|^2 - n |G_n|^2) / (n - 1)``, and ``tr(H Sigma)`` comes from the spread of the group means,
``s / (k - 1) sum_c (m_c - G_n)^T H (m_c - G_n)`` (each group mean carries ``Sigma / s``). Both are
unbiased; with ``s = 1`` the second is the per-example ``mean_i (g_i - G)^T H (g_i - G)`` with ``n - 1``.
The squared norms of the sample mean overestimate those of the true gradient by the noise they carry,
so ``|G|^2 = |G_n|^2 - f tr(Sigma) / n`` and ``G^T H G = G_n^T H G_n - f tr(H Sigma) / n``, with
``f = 1`` for independent draws and ``f = (N - n) / N`` for ``n`` of ``N`` training samples drawn without
replacement (and then ``Sigma`` normalized by ``N``, as in :mod:`batchlab.train.noise_estimate`).

Intervals come from a bootstrap over the groups (resampled with replacement; each resample recomputes
every estimate from the matching rows and columns of ``gram``, ``quad`` and ``sq_norms``).

This module is pure: tensors and numbers in, numbers out; randomness only from the generator passed in.

>>> import torch
>>> g = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [2.0, 2.0]])   # four per-example gradients
>>> h = torch.diag(torch.tensor([1.0, 4.0]))
>>> est = hessian_noise_from_moments(g @ g.T, g @ h @ g.T, (g * g).sum(1), group_size=1)
>>> round(est["trace"], 4), round(est["trace_h"], 4), round(est["b_noise"], 3)
(3.0, 7.0, 1.556)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ESTIMATES", "batch_at_rate", "bootstrap_intervals", "hessian_noise_from_moments"]

#: The estimates that get a bootstrap interval.
ESTIMATES = ("b_simple", "b_noise", "b_temperature", "eps_max", "grad_sq", "trace", "grad_h_grad", "trace_h")


def batch_at_rate(b_noise: float, eps_max: float, lr: float | None) -> float | None:
    """``B_eps = B_noise / (eps_max / lr - 1)``: the batch at which ``lr`` is the optimal step, in samples.

    Args:
        b_noise: ``B_noise`` in samples.
        eps_max: ``|G|^2 / (G^T H G)``, the optimal step of the noiseless gradient (parameter units per
            gradient unit).
        lr: the step used (for SGD with momentum ``mu``: ``lr / (1 - mu)``); ``None``: not known.

    Returns:
        ``None`` without a rate; ``inf`` when ``lr >= eps_max`` (the rate exceeds the optimal step even
        of the full gradient, so no batch makes it optimal) or when ``B_noise`` is infinite.
    """
    if lr is None:
        return None
    if not (math.isfinite(b_noise) and math.isfinite(eps_max)) or lr <= 0 or lr >= eps_max:
        return math.inf
    return b_noise / (eps_max / lr - 1.0)


def hessian_noise_from_moments(
    gram: torch.Tensor,
    quad: torch.Tensor,
    sq_norms: torch.Tensor,
    *,
    group_size: int,
    population: int | None = None,
    lr: float | None = None,
) -> dict[str, float]:
    """Unbiased ``|G|^2``, ``tr(Sigma)``, ``G^T H G``, ``tr(H Sigma)`` and the noise scales they give.

    Args:
        gram: ``(k, k)`` dot products of the group mean gradients, ``m_c . m_d``.
        quad: ``(k, k)`` Hessian quadratic forms of the group means, ``m_c^T H m_d`` (symmetric).
        sq_norms: ``(k,)`` sums of the squared per-example gradient norms in each group.
        group_size: examples per group ``s`` (``n = k s``).
        population: training samples ``N`` the ``n`` examples were drawn from without replacement;
            ``None`` for independent draws.
        lr: the step trained with, for ``b_temperature`` (see :func:`batch_at_rate`).

    Returns:
        ``grad_sq`` (``|G|^2``), ``trace`` (``tr(Sigma)``), ``grad_h_grad`` (``G^T H G``), ``trace_h``
        (``tr(H Sigma)``), ``b_simple`` and ``b_noise`` in samples, ``eps_max`` and ``b_temperature`` (in
        samples; NaN without ``lr``). Ratios with a non-positive denominator are ``inf``, except
        ``b_noise`` when ``G^T H G`` and ``tr(H Sigma)`` are both negative (negative curvature along the
        gradient and the noise): then it is their positive ratio, while ``eps_max`` is ``inf`` (the quadratic
        model has no optimal step).

    Raises:
        ValueError: fewer than 2 groups, or a sample larger than ``population``.
    """
    k = int(gram.shape[0])
    weights = torch.ones(1, k, dtype=torch.float64)
    values = _weighted(gram, quad, sq_norms, weights, group_size=group_size, population=population, lr=lr)
    return {name: float(value[0]) for name, value in values.items()}


def _weighted(
    gram: torch.Tensor,
    quad: torch.Tensor,
    sq_norms: torch.Tensor,
    weights: torch.Tensor,
    *,
    group_size: int,
    population: int | None,
    lr: float | None,
) -> dict[str, torch.Tensor]:
    """The estimates for each row of ``weights`` ``(R, k)``: how often each group is counted (all ones for
    the sample itself, bootstrap counts for a resample). Returns ``(R,)`` float64 tensors."""
    k = int(gram.shape[0])
    if k < 2:
        raise ValueError(f"need at least 2 groups, got {k}")
    n = k * group_size
    if population is not None and n > population:
        raise ValueError(f"{n} examples cannot be drawn without replacement from {population}")
    gram, quad, sq_norms, w = gram.double(), quad.double(), sq_norms.double(), weights.double()
    mean_sq = ((w @ gram) * w).sum(1) / k**2  # |G_n|^2
    mean_h = ((w @ quad) * w).sum(1) / k**2  # G_n^T H G_n
    trace = (w @ sq_norms - n * mean_sq) / (n - 1)
    trace_h = group_size * (w @ quad.diagonal() - k * mean_h) / (k - 1)
    shrink = 1.0 if population is None else (population - n) / population
    grad_sq = mean_sq - shrink * trace / n
    grad_h_grad = mean_h - shrink * trace_h / n
    if population is not None:  # Sigma normalized by N, as for B_simple elsewhere
        trace = trace * (population - 1) / population
        trace_h = trace_h * (population - 1) / population
    # Under negative curvature along the gradient both terms are negative: their ratio still compares the
    # curvature-weighted noise with the signal, but eps_max (and the batch at a rate) have no meaning.
    same_sign = (trace_h < 0) & (grad_h_grad < 0)
    b_noise = torch.where(same_sign, trace_h / grad_h_grad.clamp(max=-1e-300), _ratios(trace_h, grad_h_grad))
    eps_max = _ratios(grad_sq, grad_h_grad)
    if lr is None:
        at_rate = torch.full_like(b_noise, math.nan)
    else:
        finite = torch.isfinite(b_noise) & torch.isfinite(eps_max) & (eps_max > lr) & (lr > 0)
        at_rate = torch.where(finite, b_noise / (eps_max / lr - 1.0), torch.full_like(b_noise, math.inf))
    return {
        "grad_sq": grad_sq,
        "trace": trace,
        "grad_h_grad": grad_h_grad,
        "trace_h": trace_h,
        "b_simple": _ratios(trace, grad_sq),
        "b_noise": b_noise,
        "eps_max": eps_max,
        "b_temperature": at_rate,
    }


def _ratios(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """Elementwise ``numerator / denominator``, ``inf`` where the denominator is not positive."""
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator > 0, numerator / safe, torch.full_like(numerator, math.inf))


def bootstrap_intervals(
    gram: torch.Tensor,
    quad: torch.Tensor,
    sq_norms: torch.Tensor,
    *,
    group_size: int,
    population: int | None = None,
    lr: float | None = None,
    resamples: int = 200,
    level: float = 0.9,
    generator: torch.Generator | None = None,
    names: Sequence[str] = ESTIMATES,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of :func:`hessian_noise_from_moments`, resampling the groups.

    A resample draws ``k`` groups with replacement; its estimates are those of the sample in which each
    group counts as often as it was drawn (the matching rows and columns of ``gram`` and ``quad``).

    Args:
        gram, quad, sq_norms, group_size, population, lr: as for :func:`hessian_noise_from_moments`.
        resamples: bootstrap resamples.
        level: coverage of each interval, in (0, 1); 0.9 gives the 5th and 95th percentiles.
        generator: the source of the resampled indices (seed it for repeatable intervals).
        names: which estimates get an interval.

    Returns:
        ``{name: (low, high)}``; bounds may be ``inf`` where resamples have no signal (a non-positive
        denominator), and NaN when no resample gives a number.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    k = int(gram.shape[0])
    picks = torch.randint(k, (resamples, k), generator=generator)
    counts = torch.zeros(resamples, k, dtype=torch.float64).scatter_add_(
        1, picks, torch.ones(resamples, k, dtype=torch.float64)
    )
    values = _weighted(gram, quad, sq_norms, counts, group_size=group_size, population=population, lr=lr)
    tail = (1.0 - level) / 2.0
    intervals: dict[str, tuple[float, float]] = {}
    for name in names:
        numbers = values[name][~torch.isnan(values[name])]
        if not len(numbers):
            intervals[name] = (math.nan, math.nan)
            continue
        ordered = numbers.sort().values
        intervals[name] = (_percentile(ordered, tail), _percentile(ordered, 1.0 - tail))
    return intervals


def _percentile(ordered: torch.Tensor, q: float) -> float:
    """The ``q`` quantile of sorted values by linear interpolation (``inf`` values are allowed)."""
    position = q * (len(ordered) - 1)
    lo, hi = math.floor(position), math.ceil(position)
    low, high = float(ordered[lo]), float(ordered[hi])
    if lo == hi or low == high:
        return low
    return low + (high - low) * (position - lo)
