"""The Hessian-aware noise scale: closed forms, exact Hessian-vector products, and per-example gradients."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from batchlab.data.batch import Batch
from batchlab.train.hessian_noise import hessian_noise_moments, measure_hessian_noise
from batchlab.train.hessian_noise_estimate import batch_at_rate, bootstrap_intervals, hessian_noise_from_moments


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs.squeeze(-1) - targets).pow(2).mean()


def _chunks(x: torch.Tensor, y: torch.Tensor, size: int) -> list[Batch]:
    return [Batch(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def test_linear_regression_lands_within_10_percent_of_both_closed_forms() -> None:
    """y = x.w* + noise, x ~ N(0, A), loss (x.w - y)^2 at w = w* + delta.

    Per-example gradient g = 2 x (x.delta - e), so G = 2 A delta, H = 2 A and (Gaussian fourth moments)
    Sigma = 4 ((delta^T A delta + s^2) A + A delta delta^T A).
    """
    gen = torch.Generator().manual_seed(0)
    dim, n, noise_sd = 8, 16000, 0.5
    scales = torch.linspace(0.6, 1.4, dim, dtype=torch.float64)  # A = diag(scales^2): ill-conditioned
    a = torch.diag(scales**2)
    w_star = torch.randn(dim, generator=gen, dtype=torch.float64)
    # The gradient mostly along the flattest direction: G^T H G / |G|^2 is far below tr(H Sigma) / tr(Sigma).
    delta = torch.cat(
        [torch.tensor([4.0], dtype=torch.float64), 0.05 * torch.randn(dim - 1, generator=gen, dtype=torch.float64)]
    )
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64) * scales
    y = x @ w_star + noise_sd * torch.randn(n, generator=gen, dtype=torch.float64)
    model = nn.Linear(dim, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_((w_star + delta).unsqueeze(0))

    g = 2 * a @ delta
    sigma = 4 * ((delta @ a @ delta + noise_sd**2) * a + torch.outer(a @ delta, a @ delta))
    h = 2 * a
    b_simple = float(torch.trace(sigma) / (g @ g))
    b_noise = float(torch.trace(h @ sigma) / (g @ h @ g))
    assert b_noise / b_simple > 3  # the two differ here, so the test tells them apart

    # 1,000 groups of 16: the spread of tr(H Sigma) over seeds is about 4% (8 seeds within 6.5%).
    result = measure_hessian_noise(model, _mse, _chunks(x, y, n), groups=1000, resamples=50)
    assert result["b_simple"] == pytest.approx(b_simple, rel=0.10)
    assert result["b_noise"] == pytest.approx(b_noise, rel=0.10)
    assert result["eps_max"] == pytest.approx(float(g @ g / (g @ h @ g)), rel=0.10)
    low, high = result["intervals"]["b_noise"]
    assert low < result["b_noise"] < high


def test_quadratic_forms_match_a_dense_hessian_of_a_small_network() -> None:
    """A tanh network (non-quadratic loss): every moment against per-example autograd and a dense Hessian."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1, 0])

    def ce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(outputs, targets)

    moments = hessian_noise_moments(model, ce, _chunks(x, y, 4), groups=3)  # chunks of 4 and 2 examples

    params = list(model.parameters())
    shapes = [p.shape for p in params]

    def flat_loss(flat: torch.Tensor, rows: slice) -> torch.Tensor:
        pieces, start = {}, 0
        for (name, _), shape in zip(model.named_parameters(), shapes, strict=True):
            size = math.prod(shape)
            pieces[name] = flat[start : start + size].view(shape)
            start += size
        return ce(torch.func.functional_call(model, pieces, (x[rows],)), y[rows])

    theta = torch.cat([p.detach().reshape(-1) for p in params])
    rows = [slice(i, i + 1) for i in range(6)]
    per_example = torch.stack([torch.autograd.functional.jacobian(partial(flat_loss, rows=r), theta) for r in rows])
    hessian = torch.autograd.functional.hessian(lambda t: flat_loss(t, slice(0, 6)), theta)
    means = per_example.view(3, 2, -1).mean(1)
    torch.testing.assert_close(moments.gram, means @ means.T, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(moments.quad, means @ hessian @ means.T, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(moments.sq_norms, per_example.pow(2).sum(1).view(3, 2).sum(1), rtol=1e-5, atol=1e-9)


def test_a_quadratic_loss_gives_its_own_hessian() -> None:
    """Loss 0.5 (theta - x)^T A (theta - x): g_i = A (theta - x_i) and H = A exactly, on any sample."""
    torch.manual_seed(1)
    dim = 5
    a = torch.diag(torch.tensor([1.0, 2.0, 3.0, 5.0, 8.0], dtype=torch.float64))

    class Shift(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.theta = nn.Parameter(torch.randn(dim, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.theta - x

    def quadratic(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.einsum("bi,ij,bj->b", outputs, a, outputs).mean()

    model = Shift()
    x = torch.randn(12, dim, dtype=torch.float64)
    moments = hessian_noise_moments(model, quadratic, _chunks(x, torch.zeros(12), 5), groups=12)
    g = (model.theta.detach() - x) @ a  # per-example gradients (A symmetric)
    torch.testing.assert_close(moments.quad, g @ a @ g.T)
    estimate = hessian_noise_from_moments(moments.gram, moments.quad, moments.sq_norms, group_size=1)
    centred = g - g.mean(0)
    assert estimate["trace_h"] == pytest.approx(float(torch.einsum("bi,ij,bj->", centred, a, centred)) / 11)


def test_per_example_gradients_of_padded_text_ignore_the_padding() -> None:
    """A transformer over padded token ids with lengths: the same moments as each text alone, unpadded."""
    from batchlab.config import ModelConfig
    from batchlab.inputs import InputSpec
    from batchlab.models.transformer import TransformerClassifier

    torch.manual_seed(2)
    spec = InputSpec("tokens", (), vocab_size=20, max_length=12)
    model = TransformerClassifier(spec, 2, ModelConfig(name="transformer", embed=8, heads=2, layers=1, hidden=[]))
    lengths = torch.tensor([7, 3, 5, 2])
    x = torch.randint(1, 20, (4, 7)) * (torch.arange(7) < lengths[:, None])
    y = torch.tensor([0, 1, 1, 0])

    def ce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(outputs, targets)

    padded = hessian_noise_moments(model, ce, [Batch(x, y, lengths)], groups=4)
    alone = [Batch(x[i : i + 1, : int(lengths[i])], y[i : i + 1], lengths[i : i + 1]) for i in range(4)]
    unpadded = hessian_noise_moments(model, ce, alone, groups=4)
    assert padded.tokens == 17
    torch.testing.assert_close(padded.gram, unpadded.gram, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(padded.quad, unpadded.quad, rtol=1e-4, atol=1e-8)
    assert model.training  # the mode is restored


def test_the_batch_at_the_trained_rate_solves_eps_opt() -> None:
    b_noise, eps_max, lr = 120.0, 0.8, 0.2
    b = batch_at_rate(b_noise, eps_max, lr)
    assert b is not None
    assert eps_max / (1 + b_noise / b) == pytest.approx(lr)  # eps_opt(B_eps) = lr
    assert batch_at_rate(b_noise, eps_max, 1.0) == math.inf  # above the noiseless optimum
    assert batch_at_rate(b_noise, eps_max, None) is None


def test_sampling_the_whole_population_needs_no_noise_correction() -> None:
    """With n = N the sample mean is the true gradient: |G|^2 is the plain squared norm of the mean."""
    g = torch.tensor([[1.0, 0.0], [3.0, 1.0], [0.0, 2.0], [2.0, 2.0]], dtype=torch.float64)
    est = hessian_noise_from_moments(g @ g.T, g @ g.T, (g * g).sum(1), group_size=1, population=4)
    assert est["grad_sq"] == pytest.approx(float(g.mean(0).pow(2).sum()))
    independent = hessian_noise_from_moments(g @ g.T, g @ g.T, (g * g).sum(1), group_size=1)
    assert independent["grad_sq"] < est["grad_sq"]


def test_bootstrap_intervals_are_seeded_and_ordered() -> None:
    gen = torch.Generator().manual_seed(3)
    g = torch.randn(40, 6, generator=gen, dtype=torch.float64) + 1.0
    args = (g @ g.T, g @ torch.diag(torch.arange(1.0, 7.0, dtype=torch.float64)) @ g.T, (g * g).sum(1))
    first = bootstrap_intervals(*args, group_size=1, generator=torch.Generator().manual_seed(0))
    again = bootstrap_intervals(*args, group_size=1, generator=torch.Generator().manual_seed(0))
    assert first == again
    point = hessian_noise_from_moments(*args, group_size=1)
    for name in ("b_simple", "b_noise"):
        low, high = first[name]
        assert low < point[name] < high


def test_the_docstring_example_runs() -> None:
    import doctest

    import batchlab.train.hessian_noise_estimate as module

    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_negative_curvature_gives_the_positive_ratio_and_no_optimal_step() -> None:
    """H = -I along every direction: G^T H G and tr(H Sigma) are both negative."""
    g = torch.tensor([[1.0, 0.0], [3.0, 1.0], [0.0, 2.0], [2.0, 2.0]], dtype=torch.float64)
    est = hessian_noise_from_moments(g @ g.T, -(g @ g.T), (g * g).sum(1), group_size=1, lr=0.1)
    assert est["grad_h_grad"] < 0 and est["trace_h"] < 0
    assert est["b_noise"] == pytest.approx(est["b_simple"])  # H = -I: the same ratio as with H = I
    assert est["eps_max"] == math.inf and est["b_temperature"] == math.inf
