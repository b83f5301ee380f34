"""The range test's math against closed forms: rates, bias-corrected smoothing, divergence, both suggestions."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from batchlab.lr_range import curve
from batchlab.lr_range.curve import LossSmoother, rate_grid, smooth_losses, steepest_index, suggest


def test_exponential_rates_are_a_geometric_sequence_with_exact_ends() -> None:
    rates = rate_grid(1e-7, 10.0, 100, "exp")
    assert len(rates) == 100
    assert rates[0] == 1e-7 and rates[-1] == 10.0
    ratios = np.array(rates[1:]) / np.array(rates[:-1])
    np.testing.assert_allclose(ratios, (10.0 / 1e-7) ** (1 / 99), rtol=1e-12)


def test_linear_rates_are_evenly_spaced() -> None:
    rates = rate_grid(0.1, 1.0, 10, "linear")
    np.testing.assert_allclose(np.diff(rates), 0.1, rtol=1e-12)
    assert rates[-1] == 1.0


@pytest.mark.parametrize(
    ("low", "high", "steps", "mode"),
    [(0.0, 1.0, 10, "exp"), (1.0, 1.0, 10, "exp"), (1e-3, 1.0, 1, "exp"), (1e-3, 1.0, 10, "cubic")],
)
def test_rate_grid_rejects_impossible_sweeps(low: float, high: float, steps: int, mode: str) -> None:
    with pytest.raises(ValueError):
        rate_grid(low, high, steps, mode)


def test_smoothing_of_a_constant_is_the_constant_from_the_first_step() -> None:
    # Without the bias correction the first values would be 0.02 * 3, 0.0396 * 3, ...
    np.testing.assert_allclose(smooth_losses([3.0] * 50, beta=0.98), 3.0, rtol=1e-12)


def test_smoothing_of_a_geometric_sequence_matches_its_closed_form() -> None:
    # losses r^k (k = 0, 1, ...): a_n = (1 - b) * sum_k b^(n-1-k) r^k = (1 - b) (r^n - b^n) / (r - b)
    beta, r = 0.9, 1.3
    losses = [r**k for k in range(30)]
    expected = [(1 - beta) * (r**n - beta**n) / (r - beta) / (1 - beta**n) for n in range(1, 31)]
    np.testing.assert_allclose(smooth_losses(losses, beta), expected, rtol=1e-12)


def test_no_smoothing_keeps_the_losses() -> None:
    losses = [2.0, 1.0, 5.0, 0.5]
    assert smooth_losses(losses, beta=0.0) == losses


def test_divergence_is_a_multiple_of_the_lowest_smoothed_loss() -> None:
    smoother = LossSmoother(0.0)
    for loss in (2.0, 1.0, 3.9):
        assert not smoother.diverged(smoother.add(loss), 4.0)
    assert smoother.best == 1.0
    assert not smoother.diverged(smoother.add(4.0), 4.0)  # exactly 4 x best: not yet
    assert smoother.diverged(smoother.add(4.01), 4.0)
    assert LossSmoother(0.5).diverged(LossSmoother(0.5).add(math.nan), 4.0)


def test_a_non_finite_loss_diverges_and_keeps_the_best() -> None:
    smoother = LossSmoother(0.98)
    smoother.add(1.0)
    value = smoother.add(math.inf)
    assert smoother.diverged(value, 4.0) and smoother.best == 1.0


def test_steepest_descent_of_a_tanh_step_is_its_centre() -> None:
    # loss(u) = 2 - tanh((u - u0) / w), u = ln(rate): steepest descent exactly at u0.
    rates = rate_grid(1e-6, 1.0, 121)
    u0 = math.log(3e-3)
    losses = [2.0 - math.tanh((math.log(r) - u0) / 0.7) for r in rates]
    index, slope = steepest_index(rates, losses)  # type: ignore[misc]
    nearest = min(range(len(rates)), key=lambda k: abs(math.log(rates[k]) - u0))
    assert index == nearest
    assert slope == pytest.approx(-1 / 0.7, rel=2e-2)  # d/du of -tanh at its centre: -1 / w


def test_the_slope_is_exact_for_a_parabola_on_an_uneven_grid() -> None:
    rates = rate_grid(0.01, 1.0, 12, "linear")  # uneven in ln(rate)
    u = np.log(rates)
    losses = list(3.0 * (u - u[5]) ** 2 - 2.0 * u)  # derivative 6 (u - u5) - 2, most negative at u[0]
    index, slope = steepest_index(rates, losses, start=3)  # type: ignore[misc]
    assert index == 3
    assert slope == pytest.approx(6 * (u[3] - u[5]) - 2, rel=1e-9)


def test_a_curve_that_never_falls_has_no_steepest_descent() -> None:
    rates = rate_grid(1e-4, 1.0, 20)
    found = suggest(rates, [1.0 + 0.1 * k for k in range(20)])
    assert found.steepest is None
    assert found.best_at == 0 and found.minimum_tenth == pytest.approx(1e-5)
    assert any("never fell" in note for note in found.notes)


def test_minimum_over_ten_and_the_steepest_point_before_it() -> None:
    rates = rate_grid(1e-5, 1.0, 51)
    u = np.log(rates)
    centre, bottom = math.log(1e-3), math.log(3e-2)
    # A drop centred at 1e-3, a valley at 3e-2, then a rise.
    losses = [2.0 - math.tanh((x - centre) / 0.5) + 0.2 * max(0.0, x - bottom) ** 2 for x in u]
    found = suggest(rates, losses)
    assert found.best_rate == pytest.approx(rates[int(np.argmin(losses))])
    assert found.minimum_tenth == pytest.approx(found.best_rate / 10)
    assert found.steepest == pytest.approx(rates[int(np.argmin(np.abs(u - centre)))])
    assert found.steepest_at is not None and found.best_at is not None and found.steepest_at < found.best_at


def test_steepest_descent_is_not_looked_for_in_the_skipped_start() -> None:
    rates = rate_grid(1e-5, 1.0, 50)
    losses = [2.0] * 50
    losses[1] = 1.7  # a noisy dip at the start: the steepest fall without skipping
    for k in range(30, 40):  # the real descent
        losses[k] = 2.0 - 0.1 * (k - 29)
    for k in range(40, 50):
        losses[k] = 1.0 + 0.01 * (k - 40)
    assert suggest(rates, losses).steepest in rates[:2]
    assert 30 <= rates.index(suggest(rates, losses, skip=5).steepest) <= 40  # type: ignore[arg-type]


def test_a_curve_still_falling_at_the_end_says_so() -> None:
    rates = rate_grid(1e-4, 1.0, 20)
    found = suggest(rates, [2.0 - 0.05 * k for k in range(20)])
    assert found.best_rate == 1.0
    assert any("raise --max" in note for note in found.notes)


def test_points_after_a_non_finite_loss_are_left_out() -> None:
    rates = rate_grid(1e-3, 1.0, 12)
    smoothed = [2.0, 1.9, 1.5, 1.0, 0.9, math.inf, 0.1, 0.05, 0.01, 0.0, 0.0, 0.0]
    found = suggest(rates, smoothed)
    assert found.best_rate == rates[4]


def test_the_rule_names() -> None:
    found = suggest(rate_grid(1e-3, 1.0, 12), [2.0, 1.9, 1.5, 1.0, 0.9, 0.95, 2, 3, 4, 5, 6, 7])
    assert found.rate("min10") == found.minimum_tenth and found.rate("steepest") == found.steepest
    with pytest.raises(ValueError, match="unknown rule"):
        found.rate("valley")


def test_docstring_examples() -> None:
    result = doctest.testmod(curve)
    assert result.failed == 0 and result.attempted > 0
