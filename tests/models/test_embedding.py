from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from batchlab.errors import ConfigError, DataError
from batchlab.inputs import InputSpec
from batchlab.models import InputEmbedding, PositionEmbedding, sinusoidal_positions


def test_tokens_get_an_embedding_table_with_a_zero_padding_row() -> None:
    front = InputEmbedding(InputSpec("tokens", (), vocab_size=10, pad_id=0), 8)
    assert isinstance(front.layer, nn.Embedding) and front.layer.padding_idx == 0
    out = front(torch.tensor([[3, 0]]))
    assert out.shape == (1, 2, 8) and (out[0, 1] == 0).all()
    assert InputEmbedding(InputSpec("tokens", (), vocab_size=10), 8, padding=False).layer.padding_idx is None


def test_frames_get_a_linear_projection() -> None:
    front = InputEmbedding(InputSpec("frames", (40,)), 16)
    assert isinstance(front.layer, nn.Linear) and front.layer.in_features == 40
    assert front(torch.randn(2, 7, 40)).shape == (2, 7, 16)


def test_fixed_size_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="needs tokens or audio frames, got image data"):
        InputEmbedding(InputSpec.from_shape((1, 8, 8)), 16)


def test_sinusoidal_table_follows_the_formula() -> None:
    table = sinusoidal_positions(50, 6)
    t, i = 37, 2
    angle = t / 10000 ** (2 * i / 6)
    assert table.shape == (50, 6)
    assert table[t, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert table[t, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert sinusoidal_positions(4, 5).shape == (4, 5)  # odd widths work


@pytest.mark.parametrize("kind", ["learned", "sinusoidal"])
def test_positions_beyond_max_length_are_a_data_error(kind: str) -> None:
    positions = PositionEmbedding(kind, 8, 10)  # type: ignore[arg-type]
    assert positions(10, torch.device("cpu")).shape == (10, 8)
    with pytest.raises(DataError, match="input of 11 steps is longer than the 10 positions"):
        positions(11, torch.device("cpu"))


def test_sinusoidal_positions_start_at_the_scale_of_learned_ones_and_are_not_saved() -> None:
    positions = PositionEmbedding("sinusoidal", 64, 100)
    rms = positions(100, torch.device("cpu")).square().mean().sqrt().item()
    assert rms == pytest.approx(0.02, rel=0.05)
    assert list(positions.state_dict()) == ["gain"]
    unbounded = PositionEmbedding("sinusoidal", 64, None)
    torch.testing.assert_close(unbounded(300, torch.device("cpu"))[:100], positions(100, torch.device("cpu")))


def test_learned_positions_need_a_max_length() -> None:
    with pytest.raises(ConfigError, match=r"model\.positions: learned positions need"):
        PositionEmbedding("learned", 8, None)
