"""The critical-batch fit against points generated from the model (S/S_min - 1)(E/E_min - 1) = 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from batchlab.study.critical import fit_critical_batch, samples_on_curve, steps_on_curve

SIZES = [1, 4, 16, 64, 256, 1024, 4096]


def test_points_on_the_curve_satisfy_the_hyperbola() -> None:
    s_min, e_min = 300.0, 12_000.0
    for b in SIZES:
        s, e = steps_on_curve(b, s_min, e_min), samples_on_curve(b, s_min, e_min)
        assert e == pytest.approx(b * s)
        assert (s / s_min - 1) * (e / e_min - 1) == pytest.approx(1.0)


def test_exact_points_give_back_the_parameters() -> None:
    s_min, e_min = 300.0, 12_000.0
    fit = fit_critical_batch(SIZES, [steps_on_curve(b, s_min, e_min) for b in SIZES])
    assert fit.status == "fit"
    assert fit.s_min == pytest.approx(s_min, rel=1e-9)
    assert fit.e_min == pytest.approx(e_min, rel=1e-9)
    assert fit.b_crit == pytest.approx(40.0, rel=1e-9)
    assert fit.rms_log_error == pytest.approx(0.0, abs=1e-9)


def test_noisy_seeds_recover_the_critical_batch_within_15_percent() -> None:
    rng = np.random.default_rng(0)
    s_min, e_min = 50.0, 25_000.0  # B_crit = 500
    sizes, steps = [], []
    for b in SIZES:
        for _ in range(3):  # three seeds, 10% multiplicative noise each
            sizes.append(b)
            steps.append(steps_on_curve(b, s_min, e_min) * math.exp(rng.normal(0.0, 0.1)))
    fit = fit_critical_batch(sizes, steps)
    assert fit.status == "fit" and fit.points == len(SIZES) * 3
    assert fit.b_crit == pytest.approx(500.0, rel=0.15)
    assert 0.03 < fit.rms_log_error < 0.2


def test_steps_falling_as_one_over_b_put_the_knee_above_the_range() -> None:
    fit = fit_critical_batch([1, 2, 4, 8], [800, 400, 200, 100])
    assert fit.status == "perfect_scaling" and math.isinf(fit.b_crit)
    assert fit.e_min == pytest.approx(800)
    assert fit.to_dict()["b_crit"] is None


def test_flat_steps_put_the_knee_below_the_range() -> None:
    fit = fit_critical_batch([64, 128, 256], [100, 101, 99])
    assert fit.status == "no_speedup" and fit.b_crit == 0.0
    assert fit.s_min == pytest.approx(100, rel=0.02)


def test_one_batch_size_is_not_enough() -> None:
    fit = fit_critical_batch([32, 32], [10, 12])
    assert fit.status == "insufficient" and math.isnan(fit.b_crit)
