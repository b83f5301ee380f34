from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.models import build_mlp


def _count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize(("input_shape", "batch"), [((10,), 4), ((1, 8, 8), 3), ((3, 5, 7), 2)])
def test_output_shape_for_vector_and_image_inputs(input_shape: tuple[int, ...], batch: int) -> None:
    model = build_mlp(ModelConfig(hidden=[16, 8]), input_shape, 5)
    assert model(torch.randn(batch, *input_shape)).shape == (batch, 5)


def test_layers_follow_the_config() -> None:
    plain = build_mlp(ModelConfig(hidden=[16, 8, 4]), (10,), 3)
    assert _count(plain, nn.Linear) == 4
    assert _count(plain, nn.BatchNorm1d) == 0 and _count(plain, nn.Dropout) == 0
    rich = build_mlp(ModelConfig(hidden=[16, 8], batchnorm=True, dropout=0.25, activation="gelu"), (10,), 3)
    assert _count(rich, nn.Linear) == 3
    assert _count(rich, nn.BatchNorm1d) == 2 and _count(rich, nn.GELU) == 2
    assert [m.p for m in rich.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.25]
    kinds = [type(m) for m in rich]
    assert kinds == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.GELU, nn.Dropout] * 1 + [
        nn.Linear,
        nn.BatchNorm1d,
        nn.GELU,
        nn.Dropout,
        nn.Linear,
    ]


def test_no_hidden_layers_is_a_linear_model() -> None:
    model = build_mlp(ModelConfig(hidden=[]), (4,), 2)
    assert [type(m) for m in model] == [nn.Flatten, nn.Linear]


# Each activation written from its formula (torch's defaults: leaky_relu slope 0.01, elu alpha 1, exact gelu).
ACTIVATIONS = {
    "relu": lambda z: torch.where(z > 0, z, torch.zeros_like(z)),
    "gelu": lambda z: 0.5 * z * (1 + torch.erf(z / math.sqrt(2))),
    "tanh": lambda z: (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z)),
    "sigmoid": lambda z: 1 / (1 + torch.exp(-z)),
    "leaky_relu": lambda z: torch.where(z > 0, z, 0.01 * z),
    "silu": lambda z: z / (1 + torch.exp(-z)),
    "elu": lambda z: torch.where(z > 0, z, torch.exp(z) - 1),
}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_each_activation_is_applied_between_the_layers(activation: str) -> None:
    torch.manual_seed(0)
    model = build_mlp(ModelConfig(hidden=[6, 5], activation=activation), (3,), 2)  # type: ignore[arg-type]
    first, second, last = (m for m in model if isinstance(m, nn.Linear))
    x = torch.linspace(-3, 3, 24, dtype=torch.float64).view(8, 3)
    f = ACTIVATIONS[activation]
    with torch.no_grad():
        model.double()
        hidden = f(f(x @ first.weight.T + first.bias) @ second.weight.T + second.bias)
        expected = hidden @ last.weight.T + last.bias
        torch.testing.assert_close(model(x), expected, rtol=1e-10, atol=1e-10)
        others = [name for name in ACTIVATIONS if not torch.allclose(ACTIVATIONS[name](x), f(x))]
        assert len(others) == len(ACTIVATIONS) - 1  # the formulas tell every activation apart on these inputs


def test_parameter_count_matches_the_closed_form() -> None:
    d, h1, h2, k = 64, 32, 16, 10
    plain = build_mlp(ModelConfig(hidden=[h1, h2]), (d,), k)
    assert sum(p.numel() for p in plain.parameters()) == (d + 1) * h1 + (h1 + 1) * h2 + (h2 + 1) * k
    # With batchnorm the hidden Linear layers drop their bias and each norm adds a scale and a shift.
    normed = build_mlp(ModelConfig(hidden=[h1, h2], batchnorm=True), (d,), k)
    assert sum(p.numel() for p in normed.parameters()) == d * h1 + 2 * h1 + h1 * h2 + 2 * h2 + (h2 + 1) * k


def test_invalid_sizes_raise() -> None:
    with pytest.raises(ValueError):
        build_mlp(ModelConfig(), (), 2)
    with pytest.raises(ValueError):
        build_mlp(ModelConfig(), (4,), 0)


def test_overfits_a_tiny_batch() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 10), torch.randint(0, 3, (32,))
    model = build_mlp(ModelConfig(hidden=[64]), (10,), 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first is not None and loss.item() < first / 5
