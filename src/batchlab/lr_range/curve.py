"""The math of a learning-rate range test: the rates, the smoothed loss, the divergence rule, the suggestions.

Everything here is a pure function of numbers (no torch, no I/O), so each rule can be checked against a
closed form.

**Rates.** ``steps`` rates from ``min_lr`` to ``max_lr``, both included: evenly spaced in the logarithm
(``exp``, the default: ``min * (max / min) ** (k / (steps - 1))``) or in the rate itself (``linear``).

**Smoothing.** The loss of one step is noisy; the curve that is read is its exponential moving average
with bias correction (the correction of Adam's moments): with ``a_0 = 0``,
``a_k = beta * a_{k-1} + (1 - beta) * loss_k`` and the smoothed loss ``a_k / (1 - beta ** k)`` (``k``
counted from 1), a weighted mean of the losses so far whose weights sum to one from the first step on.
``beta = 0`` is no smoothing.

**Divergence.** The test stops at the first step whose loss is not finite, or whose smoothed loss exceeds
``diverge`` times the lowest smoothed loss so far (4 by default, as in fastai and Lightning).

**Suggestions**, both read on the smoothed curve up to its lowest point (the points after it are on the
way to divergence):

- *steepest descent*: the rate where the smoothed loss falls fastest against the logarithm of the rate
  (the most negative ``d loss / d ln(rate)``, by central differences on the uneven grid, one-sided at the
  ends), the middle of the steepest slope of the plotted curve. The first tenth of the sweep is not
  searched (``skip``): there the moving average holds only a few losses, and its slope is mostly noise;
- *minimum / 10*: the rate of the lowest smoothed loss divided by 10, one decade below the point where
  the loss stops improving, which is already near the edge of stability.

>>> rates = rate_grid(1e-3, 1.0, 4)
>>> [round(r, 6) for r in rates]
[0.001, 0.01, 0.1, 1.0]
>>> [round(x, 12) for x in smooth_losses([2.0, 2.0, 2.0], beta=0.98)]
[2.0, 2.0, 2.0]
>>> found = suggest(rates, [1.0, 0.8, 0.2, 0.1])
>>> round(found.steepest, 6), round(found.minimum_tenth, 6)
(0.01, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_RULE",
    "MODES",
    "RULES",
    "LossSmoother",
    "Suggestion",
    "rate_grid",
    "smooth_losses",
    "steepest_index",
    "suggest",
]

MODES = ("exp", "linear")
"""How rates are spaced between ``--min`` and ``--max``: evenly in their logarithm, or evenly."""

RULES = {"steepest": "steepest descent of the smoothed loss", "min10": "minimum of the smoothed loss / 10"}
"""The suggestion rules by name, with what each says in words."""

DEFAULT_RULE = "min10"
"""The rule applied unless another is asked for: in the measurements of ``docs/batch-size-study.md`` its
rate was the closer to the best constant rate of a short training run, and it errs low rather than high."""


def rate_grid(min_lr: float, max_lr: float, steps: int, mode: str = "exp") -> list[float]:
    """The rates of a range test, one per optimizer step, from ``min_lr`` to ``max_lr`` (both included).

    Args:
        min_lr: the first rate (> 0).
        max_lr: the last rate (> ``min_lr``).
        steps: how many rates (at least 2).
        mode: ``exp`` (a geometric sequence) or ``linear`` (an arithmetic one).

    Raises:
        ValueError: a rate that is not positive, ``min_lr >= max_lr``, fewer than 2 steps, an unknown mode.

    >>> rate_grid(1.0, 3.0, 3, "linear")
    [1.0, 2.0, 3.0]
    """
    if not 0 < min_lr < max_lr or not math.isfinite(max_lr):
        raise ValueError(f"need 0 < min_lr < max_lr, got {min_lr} and {max_lr}")
    if steps < 2:
        raise ValueError(f"need at least 2 steps, got {steps}")
    last = steps - 1
    if mode == "exp":
        ratio = max_lr / min_lr
        rates = [min_lr * ratio ** (k / last) for k in range(steps)]
    elif mode == "linear":
        rates = [min_lr + (max_lr - min_lr) * k / last for k in range(steps)]
    else:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    rates[-1] = max_lr  # exactly, whatever the rounding of the power
    return rates


class LossSmoother:
    """The bias-corrected exponential moving average of a stream of losses, and its lowest value.

    Args:
        beta: weight of the past, in ``[0, 1)``; 0 keeps every loss as it is.

    >>> smoother = LossSmoother(0.5)
    >>> [smoother.add(x) for x in (4.0, 1.0)]  # (0.5 * 4) / 0.5, (0.25 * 4 + 0.5 * 1) / 0.75
    [4.0, 2.0]
    >>> smoother.best
    2.0
    """

    def __init__(self, beta: float) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must lie in [0, 1), got {beta}")
        self.beta = beta
        self.average = 0.0
        self.count = 0
        self.best = math.inf

    def add(self, loss: float) -> float:
        """Fold in the next loss; returns the smoothed loss (not finite once a loss was not finite)."""
        self.count += 1
        self.average = self.beta * self.average + (1.0 - self.beta) * loss
        smoothed = self.average / (1.0 - self.beta**self.count)
        if math.isfinite(smoothed) and smoothed < self.best:
            self.best = smoothed
        return smoothed

    def diverged(self, smoothed: float, factor: float) -> bool:
        """Whether ``smoothed`` (just returned by :meth:`add`) ends the test: not finite, or above
        ``factor`` times the lowest smoothed loss so far."""
        return not math.isfinite(smoothed) or smoothed > factor * self.best


def smooth_losses(losses: Sequence[float], beta: float) -> list[float]:
    """The bias-corrected exponential moving average of ``losses`` (see :class:`LossSmoother`).

    >>> [round(x, 4) for x in smooth_losses([1.0, 2.0, 4.0], beta=0.5)]
    [1.0, 1.6667, 3.0]
    """
    smoother = LossSmoother(beta)
    return [smoother.add(float(x)) for x in losses]


@dataclass(frozen=True)
class Suggestion:
    """What a range test's curve suggests.

    Attributes:
        steepest: the rate of steepest descent of the smoothed loss, or ``None`` when it never fell.
        minimum_tenth: the rate of the lowest smoothed loss divided by 10 (``None`` without a finite point).
        best_rate: the rate of the lowest smoothed loss.
        best_loss: the lowest smoothed loss.
        steepest_at: index of the steepest point in the curve (``None`` with ``steepest``).
        best_at: index of the lowest point.
        slope: ``d smoothed loss / d ln(rate)`` at the steepest point (negative).
        notes: sentences about a curve that makes a suggestion doubtful.
    """

    steepest: float | None
    minimum_tenth: float | None
    best_rate: float | None
    best_loss: float | None
    steepest_at: int | None = None
    best_at: int | None = None
    slope: float | None = None
    notes: tuple[str, ...] = ()

    def rate(self, rule: str) -> float | None:
        """The suggestion of ``rule`` (``steepest`` or ``min10``)."""
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
        return self.steepest if rule == "steepest" else self.minimum_tenth

    def to_dict(self) -> dict[str, object]:
        return {
            "steepest": self.steepest,
            "min10": self.minimum_tenth,
            "best_rate": self.best_rate,
            "best_loss": self.best_loss,
            "steepest_at": self.steepest_at,
            "best_at": self.best_at,
            "slope": self.slope,
            "notes": list(self.notes),
        }


def steepest_index(rates: Sequence[float], smoothed: Sequence[float], start: int = 0) -> tuple[int, float] | None:
    """Index and value of the most negative ``d smoothed / d ln(rate)`` at index ``start`` or later, or
    ``None`` if the curve does not fall there.

    The derivative is the second-order central difference on the uneven grid of log rates (exact for a
    parabola), one-sided at the two ends. Needs at least 2 points.

    >>> index, slope = steepest_index([1.0, 2.0, 4.0, 8.0], [3.0, 2.0, 0.0, -0.5])
    >>> index, round(slope, 4)  # (0 - 3) / (2 ln 2) at the second point
    (1, -2.164)
    """
    n = len(smoothed)
    if n < 2 or len(rates) != n:
        return None
    u = [math.log(r) for r in rates]
    slopes = []
    for k in range(n):
        if k == 0:
            slope = (smoothed[1] - smoothed[0]) / (u[1] - u[0])
        elif k == n - 1:
            slope = (smoothed[k] - smoothed[k - 1]) / (u[k] - u[k - 1])
        else:
            h0, h1 = u[k] - u[k - 1], u[k + 1] - u[k]
            slope = (
                -h1 / (h0 * (h0 + h1)) * smoothed[k - 1]
                + (h1 - h0) / (h0 * h1) * smoothed[k]
                + h0 / (h1 * (h0 + h1)) * smoothed[k + 1]
            )
        slopes.append(slope)
    candidates = range(min(max(start, 0), n - 1), n)
    best = min(candidates, key=lambda k: slopes[k])
    return (best, slopes[best]) if slopes[best] < 0 else None


def suggest(rates: Sequence[float], smoothed: Sequence[float], *, skip: int = 0) -> Suggestion:
    """Both suggestions from a smoothed curve (see the module docstring for the rules).

    Only the finite points before the first non-finite one count. The steepest descent is looked for from
    point ``skip`` (or the point before the lowest, when that comes earlier) up to the lowest point.

    Args:
        rates: the rate of each point, increasing.
        smoothed: the smoothed loss after the step at each rate.
        skip: points at the start left out of the search for the steepest descent (a range test leaves
            out a tenth of its rates).

    Returns:
        The suggestions, with notes when the curve never fell, was still falling at the last rate, or
        has too few points to trust.
    """
    finite = 0
    while finite < len(smoothed) and math.isfinite(smoothed[finite]):
        finite += 1
    rates, smoothed = list(rates[:finite]), list(smoothed[:finite])
    if not smoothed:
        return Suggestion(None, None, None, None, notes=("the loss was not finite from the first step: lower --min",))
    best = min(range(len(smoothed)), key=lambda k: smoothed[k])
    notes = []
    start = min(skip, best - 1)
    found = steepest_index(rates[: best + 1], smoothed[: best + 1], start) if best >= 1 else None
    if best == 0:
        notes.append("the smoothed loss never fell below its first value: lower --min (or check the data)")
    elif best == len(smoothed) - 1:
        notes.append("the smoothed loss was still falling at the last rate: raise --max to see its minimum")
    if len(smoothed) < 10:
        notes.append(f"only {len(smoothed)} points on the curve: too few to trust; lower --min or add --steps")
    return Suggestion(
        steepest=rates[found[0]] if found else None,
        minimum_tenth=rates[best] / 10.0,
        best_rate=rates[best],
        best_loss=smoothed[best],
        steepest_at=found[0] if found else None,
        best_at=best,
        slope=found[1] if found else None,
        notes=tuple(notes),
    )
