from __future__ import annotations

import pytest
import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.models import build_cnn


def _count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize("input_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (2, 5, 9)])
def test_output_shape_for_common_image_sizes(input_shape: tuple[int, int, int]) -> None:
    model = build_cnn(ModelConfig(name="cnn", channels=[4, 8], hidden=[16]), input_shape, 10)
    assert model(torch.randn(3, *input_shape)).shape == (3, 10)


def test_pooling_stops_when_the_image_is_one_pixel() -> None:
    # 8 -> 4 -> 2 -> 1, then two more blocks without pooling.
    model = build_cnn(ModelConfig(name="cnn", channels=[2, 2, 2, 2, 2], hidden=[]), (1, 8, 8), 3)
    assert _count(model, nn.MaxPool2d) == 3
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    head = [m for m in model if isinstance(m, nn.Linear)]
    assert head[0].in_features == 2 * 1 * 1


def test_layers_follow_the_config() -> None:
    plain = build_cnn(ModelConfig(name="cnn", channels=[4, 8], hidden=[16]), (1, 8, 8), 10)
    assert _count(plain, nn.Conv2d) == 2 and _count(plain, nn.Linear) == 2
    assert _count(plain, nn.BatchNorm2d) == 0 and _count(plain, nn.BatchNorm1d) == 0 and _count(plain, nn.Dropout) == 0
    rich = build_cnn(
        ModelConfig(name="cnn", channels=[4, 8], hidden=[16], batchnorm=True, dropout=0.1, kernel_size=5),
        (1, 8, 8),
        10,
    )
    assert _count(rich, nn.BatchNorm2d) == 2 and _count(rich, nn.BatchNorm1d) == 1 and _count(rich, nn.Dropout) == 3
    assert all(m.kernel_size == (5, 5) and m.padding == (2, 2) for m in rich.modules() if isinstance(m, nn.Conv2d))


def test_parameter_count_matches_the_closed_form() -> None:
    c, k, c1, c2, h, out = 1, 3, 4, 8, 16, 10
    model = build_cnn(ModelConfig(name="cnn", channels=[c1, c2], hidden=[h], kernel_size=k), (c, 28, 28), out)
    flat = c2 * 7 * 7  # 28 -> 14 -> 7
    expected = (c * k * k + 1) * c1 + (c1 * k * k + 1) * c2 + (flat + 1) * h + (h + 1) * out
    assert sum(p.numel() for p in model.parameters()) == expected


def test_vector_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        build_cnn(ModelConfig(name="cnn"), (64,), 10)
    assert str(info.value).startswith(
        "model.name: cnn needs image data (channels, height, width), got input shape (64,)"
    )


def test_overfits_a_tiny_batch() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 4, (32,))
    model = build_cnn(ModelConfig(name="cnn", channels=[8, 16], hidden=[32]), (1, 8, 8), 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first is not None and loss.item() < first / 5
