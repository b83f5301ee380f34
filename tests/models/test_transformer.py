from __future__ import annotations

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError, DataError
from batchlab.inputs import InputSpec
from batchlab.models import TransformerClassifier
from tests.models.conftest import (
    FEATURES,
    VOCAB,
    contains_five_task,
    fit,
    frame_sample,
    padding_gap,
    token_sample,
)

TOKENS = InputSpec("tokens", (), vocab_size=VOCAB, max_length=24, variable_length=True)
FRAMES = InputSpec("frames", (FEATURES,), max_length=24, variable_length=True)


def _model(spec: InputSpec, **fields: object) -> TransformerClassifier:
    torch.manual_seed(0)
    cfg = ModelConfig(name="transformer", embed=16, layers=2, heads=2, hidden=[8], dropout=0.1, **fields)  # type: ignore[arg-type]
    return TransformerClassifier(spec, 3, cfg)


@pytest.mark.parametrize("pooling", ["mean", "max", "cls", "last"])
@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
@pytest.mark.parametrize("garbage", [False, True])
def test_padding_does_not_change_the_output_of_tokens(pooling: str, positions: str, garbage: bool) -> None:
    model = _model(TOKENS, pooling=pooling, positions=positions)
    others = [token_sample(15), token_sample(2)]
    assert padding_gap(model, token_sample(6), others, garbage=garbage) < 1e-5


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_the_output_of_frames(pooling: str) -> None:
    model = _model(FRAMES, pooling=pooling, batchnorm=True)
    assert padding_gap(model, frame_sample(5), [frame_sample(13), frame_sample(1)], garbage=True) < 1e-5


def test_positions_reach_max_length_and_no_further() -> None:
    for pooling in ("mean", "cls"):
        model = _model(TOKENS, pooling=pooling).eval()
        assert model(torch.randint(1, VOCAB, (2, 24))).shape == (2, 3)
        with pytest.raises(DataError, match="input of 25 steps is longer than the 24 positions"):
            model(torch.randint(1, VOCAB, (2, 25)))


def test_order_matters_with_positions() -> None:
    model = _model(TOKENS, pooling="mean").eval()
    x = token_sample(10)
    assert not torch.allclose(model(x[None]), model(x.flip(0)[None]))


def test_sinusoidal_positions_without_max_length_accept_any_length() -> None:
    spec = InputSpec("frames", (FEATURES,), max_length=None, variable_length=True)
    model = _model(spec, positions="sinusoidal").eval()
    assert model(torch.randn(1, 500, FEATURES)).shape == (1, 3)


def test_heads_not_dividing_embed_is_a_config_error_outside_the_config_too() -> None:
    # A config validated for another model name skips the config's own check.
    with pytest.raises(ConfigError, match=r"model\.heads: 3 must divide model\.embed=16"):
        TransformerClassifier(TOKENS, 2, ModelConfig(embed=16, heads=3))


def test_overfits_a_tiny_task() -> None:
    x, lengths, y = contains_five_task()
    model = _model(TOKENS, pooling="cls")
    assert fit(model, x, lengths, y, steps=80, lr=3e-3) < 0.1
