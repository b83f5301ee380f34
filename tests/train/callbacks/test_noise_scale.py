"""The noise-scale callback: the estimate against the exact per-example gradients of a linear regression,
and training that is unchanged by it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks.base import TrainingContext
from batchlab.train.callbacks.noise_scale import GradientNoiseScale
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(outputs.squeeze(-1), targets)


def test_estimate_is_within_10_percent_of_the_exact_noise_scale_of_a_linear_regression() -> None:
    generator = torch.Generator().manual_seed(0)
    n, dim = 4000, 8
    x = torch.randn(n, dim, generator=generator)
    w_true = torch.randn(dim, generator=generator)
    y = x @ w_true + 0.5 * torch.randn(n, generator=generator)
    model = torch.nn.Linear(dim, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_((w_true + 0.4 * torch.randn(dim, generator=generator)).unsqueeze(0))
    # Exact per-example gradients of (w.x - y)^2: 2 (w.x - y) x; G their mean, tr(Sigma) their variance.
    residual = x @ model.weight[0].detach() - y
    per_example = 2.0 * residual.unsqueeze(1) * x
    mean = per_example.mean(dim=0)
    truth = float(((per_example - mean) ** 2).sum(dim=1).mean() / mean.pow(2).sum())

    callback = GradientNoiseScale(MiniBatches(x, y, 32), _mse, every_steps=1, micro_batches=4, ema=0.99)
    callback.context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.0))
    state = LoopState()
    for _ in range(300):  # seeds 0-3 land within 5% of the truth
        state.step += 1
        callback.on_step_end(state)
    assert (callback.b_small, callback.b_big) == (32, 128)
    assert callback.ema.noise_scale == pytest.approx(truth, rel=0.10)
    assert model.weight.grad is None  # the training gradient is untouched


def _train(with_callback: bool) -> tuple[dict[str, torch.Tensor], LoopState, GradientNoiseScale | None]:
    torch.manual_seed(0)
    x = torch.randn(96, 6)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 2)
    )
    objective = make_objective("classification", 2)
    batches = MiniBatches(x, y, 8, seed=0)
    callback = GradientNoiseScale(batches, objective.loss, every_steps=3, micro_batches=3) if with_callback else None
    state = fit(
        model,
        batches,
        objective=objective,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        val=MiniBatches(x, y, 96, shuffle=False),
        settings=LoopSettings(epochs=2),
        callbacks=[callback] if callback else [],
    )
    return {k: v.clone() for k, v in model.state_dict().items()}, state, callback


def test_training_with_the_callback_follows_the_same_trajectory() -> None:
    plain, _, _ = _train(with_callback=False)
    measured, state, callback = _train(with_callback=True)
    assert callback is not None and callback.ema.count == 8  # 24 steps, every 3
    for key, value in plain.items():
        assert torch.equal(value, measured[key]), key  # weights, batch-norm statistics: bit-identical
    assert all("noise_scale" in row for row in state.history)
    assert state.history[-1]["noise_scale"] == pytest.approx(callback.ema.noise_scale)


def test_state_round_trips_for_resume() -> None:
    _, _, callback = _train(with_callback=True)
    assert callback is not None
    x = torch.zeros(10, 2)
    fresh = GradientNoiseScale(MiniBatches(x, torch.zeros(10), 2), _mse)
    fresh.load_state_dict(callback.state_dict())
    assert fresh.ema.noise_scale == callback.ema.noise_scale
    assert fresh.measurements == callback.measurements


def test_too_few_samples_disable_measurement() -> None:
    callback = GradientNoiseScale(MiniBatches(torch.zeros(3, 2), torch.zeros(3), 2), _mse, micro_batches=4)
    callback.on_step_end(LoopState(step=10))
    assert callback.micro_batch_size == 0 and not callback.measurements


class _MeanEmbedding(torch.nn.Module):
    """Token ids ``(batch, time)`` with lengths -> 2 logits from the mean embedding of the valid tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(20, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(x.shape[1]) < lengths[:, None]).float()
        pooled = (self.embed(x) * mask[..., None]).sum(dim=1) / lengths[:, None].float()
        return self.out(pooled)


def test_on_text_the_noise_scale_is_also_given_in_valid_tokens() -> None:
    from batchlab.data.sequences.batches import SequenceBatches
    from batchlab.data.sequences.ragged import Ragged

    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 11, (40,), generator=generator)
    texts = Ragged.from_sequences([torch.randint(1, 20, (int(n),), generator=generator) for n in lengths])
    labels = torch.randint(0, 2, (40,), generator=generator)
    model = _MeanEmbedding()
    objective = make_objective("classification", 2)
    # 4 micro-batches of 10 draw all 40 texts: each measurement holds every valid token of the split once.
    callback = GradientNoiseScale(SequenceBatches(texts, labels, 10), objective.loss, micro_batches=4)
    callback.context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.0))
    state = LoopState()
    for _ in range(3):
        state.step += 1
        callback.measure(state)
    assert [m["tokens"] for m in callback.measurements] == [float(lengths.sum())] * 3
    assert callback.tokens_per_sample == pytest.approx(float(lengths.float().mean()))
    assert callback.noise_scale_tokens == pytest.approx(callback.ema.noise_scale * float(lengths.float().mean()))
    assert callback.measurements[-1]["noise_scale_tokens"] == pytest.approx(callback.noise_scale_tokens)
    logs: dict[str, float] = {}
    callback.on_evaluate(state, logs)
    assert logs["noise_scale_tokens"] == pytest.approx(logs["noise_scale"] * float(lengths.float().mean()))


def test_language_model_windows_count_context_tokens_per_sample() -> None:
    from batchlab.data.sequences.windows import WindowBatches

    ids = torch.randint(0, 12, (400,), generator=torch.Generator().manual_seed(1))
    model = torch.nn.Sequential(torch.nn.Embedding(12, 8), torch.nn.Linear(8, 12))
    objective = make_objective("language_model", 12)
    callback = GradientNoiseScale(WindowBatches(ids, 8, 4), objective.loss, micro_batches=3)
    callback.context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.0))
    callback.measure(LoopState())
    assert callback.measurements[0]["tokens"] == 3 * 4 * 8
    assert callback.tokens_per_sample == 8.0


def test_fixed_size_samples_have_no_noise_scale_in_tokens() -> None:
    x, y = torch.randn(64, 3), torch.randn(64)
    model = torch.nn.Linear(3, 1)
    callback = GradientNoiseScale(MiniBatches(x, y, 8), _mse, micro_batches=2)
    callback.context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.0))
    callback.measure(LoopState())
    logs: dict[str, float] = {}
    callback.on_evaluate(LoopState(), logs)
    assert "tokens" not in callback.measurements[0] and callback.tokens_per_sample is None
    assert "noise_scale" in logs and "noise_scale_tokens" not in logs
