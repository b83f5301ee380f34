"""Noise-scale estimators against closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from batchlab.train.noise_estimate import NoiseEMA, NoiseEstimate, noise_weight, unbiased_estimates


def test_the_estimators_invert_the_expected_squared_norms() -> None:
    grad_sq, trace = 2.0, 60.0
    b_small, b_big = 8, 64
    g_small = grad_sq + trace / b_small  # E|G_B|^2 = |G|^2 + tr(Sigma) / B
    g_big = grad_sq + trace / b_big
    est = unbiased_estimates(g_small_sq=g_small, g_big_sq=g_big, b_small=b_small, b_big=b_big)
    assert est.grad_sq == pytest.approx(grad_sq)
    assert est.trace == pytest.approx(trace)
    assert est.noise_scale == pytest.approx(30.0)


def test_averaged_estimates_from_gaussian_gradients_are_within_10_percent() -> None:
    """Per-example gradients g ~ N(G, Sigma) with known G and Sigma: B_simple = tr(Sigma) / |G|^2 exactly."""
    rng = np.random.default_rng(1)
    dim = 20
    true_g = rng.normal(0.0, 1.0, dim)
    scales = rng.uniform(0.5, 3.0, dim)  # Sigma = diag(scales^2)
    truth = float(np.sum(scales**2) / np.sum(true_g**2))
    b_small, b_big = 4, 16
    ema = NoiseEMA(decay=0.99)
    for _ in range(2000):
        examples = true_g + scales * rng.normal(0.0, 1.0, (b_big, dim))
        small = examples.reshape(b_big // b_small, b_small, dim).mean(axis=1)
        g_small_sq = float(np.mean(np.sum(small**2, axis=1)))
        g_big_sq = float(np.sum(examples.mean(axis=0) ** 2))
        ema.update(unbiased_estimates(g_small_sq=g_small_sq, g_big_sq=g_big_sq, b_small=b_small, b_big=b_big))
    assert ema.noise_scale == pytest.approx(truth, rel=0.10)


def test_sampling_without_replacement_is_unbiased_with_the_population_weight() -> None:
    """Enumerate every batch of a 7-example population: E|mean|^2 = |G|^2 + w tr(Sigma) exactly."""
    rng = np.random.default_rng(2)
    population = rng.normal(0.5, 2.0, (7, 3))
    g = population.mean(axis=0)
    trace = float(np.mean(np.sum((population - g) ** 2, axis=1)))  # population covariance (1/N)
    for b in (2, 3, 5):
        means = [population[list(rows)].mean(axis=0) for rows in itertools.combinations(range(7), b)]
        expected = float(np.mean([np.sum(m**2) for m in means]))
        assert expected == pytest.approx(float(np.sum(g**2)) + noise_weight(b, population=7) * trace)
    assert noise_weight(7, population=7) == 0.0  # the whole set: no noise
    assert noise_weight(4) == 0.25


def test_ema_is_bias_corrected_and_skips_non_finite_estimates() -> None:
    ema = NoiseEMA(decay=0.9)
    assert math.isnan(ema.noise_scale)
    ema.update(NoiseEstimate(grad_sq=2.0, trace=10.0))
    assert ema.grad_sq == pytest.approx(2.0) and ema.noise_scale == pytest.approx(5.0)
    ema.update(NoiseEstimate(grad_sq=float("nan"), trace=1.0))
    assert ema.count == 1
    restored = NoiseEMA()
    restored.load_state_dict(ema.state_dict())
    assert restored.noise_scale == ema.noise_scale


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError):
        unbiased_estimates(g_small_sq=1.0, g_big_sq=1.0, b_small=8, b_big=8)
    with pytest.raises(ValueError):
        noise_weight(10, population=5)


def test_docstring_examples_run() -> None:
    import doctest

    import batchlab.train.noise_estimate as module

    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
