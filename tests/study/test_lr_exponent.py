"""The exponent of the best rate against the batch: least squares and its t-interval against scipy, and the
verdicts in words on synthetic power laws."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from batchlab.study import lr_exponent
from batchlab.study.lr_exponent import RatePoint, analyze_lr_batch, consistent_window, fit_exponent, local_exponents


def _points(
    exponent: float | list[float], sizes: tuple[int, ...] = (8, 32, 128, 512), noise: float = 0.1
) -> list[RatePoint]:
    """Three seeds per size around ``0.001 * B^k`` (a bend where ``exponent`` is a list of local slopes)."""
    rng = np.random.default_rng(0)
    slopes = exponent if isinstance(exponent, list) else [exponent] * (len(sizes) - 1)
    log_rate = [math.log(1e-3 * sizes[0])]
    for (b0, b1), k in zip(itertools.pairwise(sizes), slopes, strict=True):
        log_rate.append(log_rate[-1] + k * math.log(b1 / b0))
    return [
        RatePoint(b, math.exp(y + noise * rng.standard_normal()), seed)
        for b, y in zip(sizes, log_rate, strict=True)
        for seed in range(3)
    ]


def test_the_fit_is_scipys_least_squares_with_a_student_t_interval() -> None:
    points = _points(0.7, noise=0.3)
    x = [math.log(p.batch) for p in points]
    y = [math.log(p.rate) for p in points]
    reference = stats.linregress(x, y)
    fit = fit_exponent([p.batch for p in points], [p.rate for p in points], level=0.9)
    assert fit.exponent == pytest.approx(reference.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(reference.intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(reference.stderr, rel=1e-10)
    half = stats.t.ppf(0.95, len(points) - 2) * reference.stderr
    assert (fit.low, fit.high) == (pytest.approx(reference.slope - half), pytest.approx(reference.slope + half))
    assert fit.dof == 10 and fit.points == 12 and fit.sizes == 4


def test_an_exact_power_law_has_a_zero_width_interval() -> None:
    fit = fit_exponent([8, 32, 128], [0.01 * 8**0.5, 0.01 * 32**0.5, 0.01 * 128**0.5])
    assert fit.exponent == pytest.approx(0.5) and fit.low == pytest.approx(0.5) and fit.high == pytest.approx(0.5)
    assert math.exp(fit.intercept) == pytest.approx(0.01)
    low, high = fit.band(64)
    assert low == pytest.approx(high) == pytest.approx(0.01 * 8)


def test_the_band_is_narrowest_at_the_centre_of_the_points() -> None:
    fit = fit_exponent(*zip(*[(p.batch, p.rate) for p in _points(1.0, noise=0.2)], strict=True))
    widths = {b: math.log(fit.band(b)[1] / fit.band(b)[0]) for b in (8, 64, 512)}
    assert widths[64] < widths[8] and widths[64] < widths[512]


def test_two_points_give_a_slope_without_an_interval() -> None:
    fit = fit_exponent([8, 32], [0.01, 0.04])
    assert fit.exponent == pytest.approx(1.0) and not fit.has_interval and fit.contains(1.0) is None


@pytest.mark.parametrize(
    ("batches", "rates", "message"),
    [
        ([8, 8], [0.1, 0.2], "two distinct"),
        ([8, 32], [0.1], "2 batch sizes but 1 rates"),
        ([8, 32], [0.1, 0.0], "positive"),
    ],
)
def test_impossible_fits(batches: list[float], rates: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_exponent(batches, rates)


def test_local_exponents_between_geometric_means() -> None:
    points = [RatePoint(8, 0.01), RatePoint(8, 0.04), RatePoint(32, 0.08)]  # geometric mean at 8: 0.02
    ((b0, b1, k),) = local_exponents(points)
    assert (b0, b1) == (8, 32) and k == pytest.approx(math.log(4) / math.log(4))


def test_linear_data_support_the_linear_rule_and_rule_out_the_square_root() -> None:
    analysis = analyze_lr_batch(_points(1.0), rule="min10", rule_text="minimum / 10")
    assert analysis.fit is not None and analysis.fit.contains(1.0) and not analysis.fit.contains(0.5)
    text = " ".join(analysis.conclusions)
    assert "supports the linear rule (1) over 8 to 512 and rules out the square-root rule (1/2)" in text
    assert analysis.headline == "lr ∝ B^0.99 [0.96, 1.02] (95% interval, 12 range tests)"


def test_square_root_data_support_the_square_root_rule() -> None:
    text = " ".join(analyze_lr_batch(_points(0.5), rule="min10", rule_text="m").conclusions)
    assert "supports the square-root rule (1/2) over 8 to 512 and rules out the linear rule (1)" in text


def test_a_flat_rate_is_no_scaling() -> None:
    text = " ".join(analyze_lr_batch(_points(0.0), rule="min10", rule_text="m").conclusions)
    assert "does not change measurably with the batch size" in text


def test_a_bend_names_where_the_linear_rule_holds() -> None:
    # Linear up to 128, flat beyond (a critical batch near 128).
    points = _points([1.0, 1.0, 1.0, 0.0], sizes=(8, 32, 128, 512, 2048), noise=0.05)
    analysis = analyze_lr_batch(points, rule="steepest", rule_text="steepest")
    text = " ".join(analysis.conclusions)
    assert "Neither rule fits over the whole range" in text
    assert "consistent with the linear rule (1) from 8 to 512" in text
    window = consistent_window(points, 1.0)
    assert window is not None and (window.batch_low, window.batch_high) == (8, 512)
    assert "512→2,048: " in text and analysis.local[-1][2] == pytest.approx(0.0, abs=0.1)


def test_noisy_data_cannot_tell_the_rules_apart() -> None:
    text = " ".join(analyze_lr_batch(_points(0.75, noise=2.0), rule="min10", rule_text="m").conclusions)
    assert (
        "holds the linear rule (1), the square-root rule (1/2) and no scaling (0): this measurement cannot tell" in text
    )
    assert "add seeds or widen the range of sizes" in text


def test_a_single_size_gives_no_exponent() -> None:
    analysis = analyze_lr_batch([RatePoint(32, 0.1), RatePoint(32, 0.2)], rule="min10", rule_text="m")
    assert analysis.fit is None and "two or more batch sizes" in analysis.headline


def test_docstring_examples() -> None:
    result = doctest.testmod(lr_exponent)
    assert result.failed == 0 and result.attempted > 0
