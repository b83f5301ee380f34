"""How the best learning rate grows with the batch size: the exponent, its interval, and what it says.

The learning-rate scaling rules are power laws, ``lr ∝ B^k``: ``k = 1`` for the linear rule, ``k = 1/2``
for the square-root rule, ``k = 0`` for none. A range test at each batch size ``B`` (and seed) suggests a
rate; the exponent is the slope of ``ln(rate)`` against ``ln(B)``.

**Fit.** Ordinary least squares of ``ln(rate)`` on ``ln(B)`` over every range test (each seed is a point,
so repeated sizes measure the spread), and the two-sided t-interval of the slope:
``k ± t(1 - α/2, n - 2) · s / sqrt(Σ (x - x̄)²)`` with ``s² = Σ residual² / (n - 2)``. A curve that bends
(linear at small batches, flat past a critical batch) leaves large residuals, which widen the interval
instead of hiding the bend. Fewer than three points, or a single size, give no interval.

**Verdict.** A rule is *consistent* with the measurement when its slope lies inside the interval. Over the
whole range of sizes the verdict names the consistent rules; then, for each rule, the widest run of three
or more consecutive sizes whose own fit is consistent with it says *over which sizes* it holds (e.g. linear
up to 128, flatter beyond).

>>> fit = fit_exponent([8, 8, 32, 32, 128, 128], [0.01, 0.012, 0.04, 0.05, 0.15, 0.2])
>>> round(fit.exponent, 3), fit.dof, fit.contains(1.0), fit.contains(0.5)
(0.996, 4, True, False)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "RULE_SLOPES",
    "ExponentFit",
    "LRBatchAnalysis",
    "RatePoint",
    "analyze_lr_batch",
    "consistent_window",
    "fit_exponent",
    "local_exponents",
]

RULE_SLOPES = {"linear": 1.0, "sqrt": 0.5, "none": 0.0}
"""The exponent of each learning-rate scaling rule (``train.lr_scaling.rule``)."""

_RULE_NAMES = {"linear": "the linear rule (1)", "sqrt": "the square-root rule (1/2)", "none": "no scaling (0)"}
MIN_WINDOW_SIZES = 3
"""Consecutive sizes a sub-range needs for its own fit to say anything."""


@dataclass(frozen=True)
class RatePoint:
    """One range test's suggestion.

    Attributes:
        batch: the effective batch in the study's unit (samples, or tokens of a token budget).
        rate: the suggested learning rate.
        seed: the test's seed.
        label: the size as the study names it (``32``, ``512tokens``, ``full``).
    """

    batch: float
    rate: float
    seed: int = 0
    label: str = ""


@dataclass(frozen=True)
class ExponentFit:
    """The least-squares line ``ln(rate) = intercept + exponent · ln(batch)`` and the exponent's interval.

    Attributes:
        exponent: the slope.
        intercept: ``ln(rate)`` at ``batch = 1``.
        stderr: standard error of the slope (``None`` without residual degrees of freedom).
        low: lower end of the interval (``None`` likewise).
        high: upper end.
        level: the interval's confidence level.
        points: range tests fitted.
        sizes: distinct batch sizes among them.
        dof: residual degrees of freedom, ``points - 2``.
        residual_std: ``s``, the residual standard deviation of ``ln(rate)``.
        center_x: mean of ``ln(batch)``.
        center_y: mean of ``ln(rate)`` (the line passes through ``(center_x, center_y)``).
        sxx: ``Σ (ln(batch) - center_x)²``.
        t: the t quantile used.
        batch_low: smallest batch fitted.
        batch_high: largest batch fitted.
    """

    exponent: float
    intercept: float
    stderr: float | None
    low: float | None
    high: float | None
    level: float
    points: int
    sizes: int
    dof: int
    residual_std: float | None
    center_x: float
    center_y: float
    sxx: float
    t: float | None
    batch_low: float
    batch_high: float

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def contains(self, slope: float) -> bool | None:
        """Whether ``slope`` lies in the interval (``None`` without one)."""
        if self.low is None or self.high is None:
            return None
        return self.low <= slope <= self.high

    def band(self, batch: float) -> tuple[float, float]:
        """The confidence band of the fitted rate at ``batch``: ``exp(ŷ ± t · s · sqrt(1/n + (x - x̄)² / Sxx))``."""
        x = math.log(batch)
        y = self.intercept + self.exponent * x
        if self.residual_std is None or self.t is None:
            return math.exp(y), math.exp(y)
        half = self.t * self.residual_std * math.sqrt(1.0 / self.points + (x - self.center_x) ** 2 / self.sxx)
        return math.exp(y - half), math.exp(y + half)

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "exponent": self.exponent,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "stderr": self.stderr,
            "intercept": self.intercept,
            "points": self.points,
            "sizes": self.sizes,
            "dof": self.dof,
            "residual_std": self.residual_std,
            "batch_low": self.batch_low,
            "batch_high": self.batch_high,
        }


def fit_exponent(batches: Sequence[float], rates: Sequence[float], level: float = 0.95) -> ExponentFit:
    """Least squares of ``ln(rate)`` on ``ln(batch)`` with a t-interval of the slope (see the module docstring).

    Args:
        batches: batch size of each point (> 0).
        rates: suggested rate of each point (> 0).
        level: confidence level of the interval, in (0, 1).

    Raises:
        ValueError: fewer than two distinct batch sizes, lengths that differ, a value that is not positive.
    """
    if len(batches) != len(rates):
        raise ValueError(f"{len(batches)} batch sizes but {len(rates)} rates")
    if any(not (b > 0) for b in batches) or any(not (r > 0 and math.isfinite(r)) for r in rates):
        raise ValueError("batch sizes and rates must be positive")
    if len(set(batches)) < 2:
        raise ValueError("the exponent needs at least two distinct batch sizes")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    xs = [math.log(b) for b in batches]
    ys = [math.log(r) for r in rates]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = my - slope * mx
    dof = n - 2
    stderr = low = high = residual_std = t = None
    if dof > 0:
        from scipy.stats import t as student

        residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
        residual_std = math.sqrt(sum(r * r for r in residuals) / dof)
        stderr = residual_std / math.sqrt(sxx)
        t = float(student.ppf(0.5 + level / 2.0, dof))
        low, high = slope - t * stderr, slope + t * stderr
    return ExponentFit(
        exponent=slope,
        intercept=intercept,
        stderr=stderr,
        low=low,
        high=high,
        level=level,
        points=n,
        sizes=len(set(batches)),
        dof=dof,
        residual_std=residual_std,
        center_x=mx,
        center_y=my,
        sxx=sxx,
        t=t,
        batch_low=min(batches),
        batch_high=max(batches),
    )


def local_exponents(points: Sequence[RatePoint]) -> list[tuple[float, float, float]]:
    """The slope between each two consecutive sizes, from the geometric mean rate of each size.

    >>> slopes = local_exponents([RatePoint(8, 0.01), RatePoint(32, 0.04), RatePoint(128, 0.08)])
    >>> [(b0, b1, round(k, 6)) for b0, b1, k in slopes]
    [(8, 32, 1.0), (32, 128, 0.5)]
    """
    means = geometric_means(points)
    return [
        (b0, b1, (math.log(r1) - math.log(r0)) / (math.log(b1) - math.log(b0)))
        for (b0, r0), (b1, r1) in itertools.pairwise(means)
    ]


def geometric_means(points: Sequence[RatePoint]) -> list[tuple[float, float]]:
    """``(batch, geometric mean of its rates)`` for each size, smallest batch first."""
    by_size: dict[float, list[float]] = {}
    for p in points:
        by_size.setdefault(p.batch, []).append(math.log(p.rate))
    return [(b, math.exp(sum(v) / len(v))) for b, v in sorted(by_size.items())]


def consistent_window(
    points: Sequence[RatePoint], slope: float, *, level: float = 0.95, min_sizes: int = MIN_WINDOW_SIZES
) -> ExponentFit | None:
    """The fit over the widest run of ``min_sizes`` or more consecutive sizes whose interval holds ``slope``.

    Width is measured in ``ln(largest / smallest batch)``; among equally wide runs the one of smaller
    sizes wins. ``None`` when no such run exists.
    """
    sizes = sorted({p.batch for p in points})
    best: ExponentFit | None = None
    for i in range(len(sizes)):
        for j in range(i + min_sizes - 1, len(sizes)):
            inside = [p for p in points if sizes[i] <= p.batch <= sizes[j]]
            fit = fit_exponent([p.batch for p in inside], [p.rate for p in inside], level)
            if not fit.contains(slope):
                continue
            width = math.log(sizes[j] / sizes[i])
            if best is None or width > math.log(best.batch_high / best.batch_low) + 1e-12:
                best = fit
    return best


@dataclass
class LRBatchAnalysis:
    """The best rate against the batch size, in numbers and words.

    Attributes:
        rule: the suggestion rule whose rates are fitted (``steepest`` or ``min10``).
        rule_text: the rule in words.
        unit: ``samples`` or ``tokens``.
        points: one per range test that gave a suggestion.
        means: ``(batch, geometric mean rate)`` per size.
        fit: the fit over all sizes (``None`` with fewer than two sizes).
        windows: for each rule name, the widest run of consecutive sizes consistent with it (or ``None``).
        local: slopes between consecutive sizes.
        conclusions: sentences for people.
        headline: one line: exponent and interval.
        missing: the tests that gave no suggestion for this rule (``b32-s1``, ...).
    """

    rule: str
    rule_text: str
    unit: str
    points: list[RatePoint]
    means: list[tuple[float, float]]
    fit: ExponentFit | None
    windows: dict[str, ExponentFit | None] = field(default_factory=dict)
    local: list[tuple[float, float, float]] = field(default_factory=list)
    conclusions: list[str] = field(default_factory=list)
    headline: str = ""
    missing: list[str] = field(default_factory=list)


def analyze_lr_batch(
    points: Sequence[RatePoint],
    *,
    rule: str,
    rule_text: str,
    unit: str = "samples",
    level: float = 0.95,
    missing: Sequence[str] = (),
) -> LRBatchAnalysis:
    """Fit the exponent over all sizes, find where each rule holds, and say it in words.

    Args:
        points: the suggestion of each range test.
        rule: the suggestion rule's name.
        rule_text: what the rule is, in words (for the sentences).
        unit: the batch's unit, ``samples`` or ``tokens``.
        level: confidence level of the intervals.
        missing: names of the tests that gave no suggestion (reported, not fitted).
    """
    points = sorted(points, key=lambda p: (p.batch, p.seed))
    analysis = LRBatchAnalysis(
        rule=rule,
        rule_text=rule_text,
        unit=unit,
        points=list(points),
        means=geometric_means(points),
        fit=None,
        missing=list(missing),
    )
    if len({p.batch for p in points}) < 2:
        analysis.headline = "exponent: needs range tests at two or more batch sizes"
        analysis.conclusions = [analysis.headline]
        return analysis
    fit = fit_exponent([p.batch for p in points], [p.rate for p in points], level)
    analysis.fit = fit
    analysis.local = local_exponents(points)
    analysis.windows = {name: consistent_window(points, slope, level=level) for name, slope in RULE_SLOPES.items()}
    analysis.headline = _headline(fit)
    analysis.conclusions = _conclusions(analysis)
    return analysis


def _headline(fit: ExponentFit) -> str:
    interval = f" [{fit.low:.2f}, {fit.high:.2f}]" if fit.low is not None and fit.high is not None else ""
    return f"lr ∝ B^{fit.exponent:.2f}{interval} ({fit.level:.0%} interval, {fit.points} range tests)"


def _range(unit: str, low: float, high: float) -> str:
    suffix = " tokens" if unit == "tokens" else ""
    return f"{low:,.0f} to {high:,.0f}{suffix}"


def _conclusions(analysis: LRBatchAnalysis) -> list[str]:
    fit = analysis.fit
    assert fit is not None
    span = _range(analysis.unit, fit.batch_low, fit.batch_high)
    lines = []
    if fit.low is None or fit.high is None:
        lines.append(
            f"Over batch sizes {span} the suggested rate ({analysis.rule_text}) grows as B^{fit.exponent:.2f}; "
            f"{fit.points} range tests leave no interval: add seeds or sizes to tell the rules apart."
        )
        return lines
    lines.append(
        f"Over batch sizes {span} the suggested rate ({analysis.rule_text}) grows as B^{fit.exponent:.2f} "
        f"({fit.level:.0%} interval {fit.low:.2f} to {fit.high:.2f}; least squares of log rate on log batch over "
        f"{fit.points} range tests at {fit.sizes} sizes, t-interval with {fit.dof} degrees of freedom)."
    )
    inside = [name for name, slope in RULE_SLOPES.items() if fit.low <= slope <= fit.high]
    outside = [name for name in ("linear", "sqrt") if name not in inside]
    ruled_out = f" and rules out {_joined([_RULE_NAMES[n] for n in outside])}" if outside else ""
    if inside == ["linear"] or inside == ["sqrt"]:
        lines.append(f"The measurement supports {_RULE_NAMES[inside[0]]} over {span}{ruled_out}.")
    elif inside == ["none"]:
        lines.append(
            f"The best rate does not change measurably with the batch size over {span}: neither scaling rule "
            "(keep train.lr_scaling.rule: none)."
        )
    elif inside:
        named = _joined([_RULE_NAMES[n] for n in inside])
        lines.append(
            f"The interval holds {named}: this measurement cannot tell them apart over {span}{ruled_out}; "
            "add seeds or widen the range of sizes."
        )
    else:
        lines.append(f"Neither rule fits over the whole range: {_between(fit.exponent)}.")
    partial = []
    for name in ("linear", "sqrt"):
        window = analysis.windows.get(name)
        if window is None or (window.batch_low == fit.batch_low and window.batch_high == fit.batch_high):
            continue
        partial.append(
            f"{_RULE_NAMES[name]} from {_range(analysis.unit, window.batch_low, window.batch_high)} "
            f"(exponent {window.exponent:.2f}, {window.low:.2f} to {window.high:.2f})"
        )
    if partial:
        lines.append("Over part of the range the measurement is consistent with " + "; ".join(partial) + ".")
    elif not any(name in inside for name in ("linear", "sqrt")) and fit.sizes >= MIN_WINDOW_SIZES:
        lines.append(f"No run of {MIN_WINDOW_SIZES} or more consecutive sizes is consistent with either rule.")
    if analysis.local:
        steps = ", ".join(f"{b0:,.0f}→{b1:,.0f}: {k:.2f}" for b0, b1, k in analysis.local)
        lines.append(f"Local exponents between consecutive sizes (geometric means over seeds): {steps}.")
    if analysis.missing:
        lines.append(f"Left out (no suggestion by this rule): {', '.join(analysis.missing)}.")
    return lines


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _between(exponent: float) -> str:
    if exponent > 1.0:
        return f"the best rate grows faster than linearly (exponent {exponent:.2f})"
    if exponent > 0.5:
        return f"the best rate grows faster than the square root but slower than linearly (exponent {exponent:.2f})"
    if exponent > 0.0:
        return f"the best rate grows more slowly than the square root (exponent {exponent:.2f})"
    return f"the best rate falls as the batch grows (exponent {exponent:.2f})"
