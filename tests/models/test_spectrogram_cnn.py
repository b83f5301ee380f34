from __future__ import annotations

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import SpectrogramCNN
from tests.models.conftest import FEATURES, fit, frame_sample, loud_feature_task, pad, padding_gap

SPEC = InputSpec("frames", (FEATURES,), variable_length=True)


def _cnn(**fields: object) -> SpectrogramCNN:
    torch.manual_seed(0)
    cfg = ModelConfig(**{"name": "cnn", "channels": [4, 4, 4], "hidden": [8], **fields})  # type: ignore[arg-type]
    return SpectrogramCNN(SPEC, 3, cfg)


@pytest.mark.parametrize("length", [1, 2, 5, 8])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_padding_does_not_change_the_output(length: int, batchnorm: bool, activation: str) -> None:
    model = _cnn(batchnorm=batchnorm, activation=activation, dropout=0.2)
    others = [frame_sample(13), frame_sample(3)]
    assert padding_gap(model, frame_sample(length), others, garbage=True) < 1e-5


def test_padding_does_not_change_training_outputs_with_batchnorm() -> None:
    model = _cnn(batchnorm=True).train()
    samples = [frame_sample(9), frame_sample(4)]
    lengths = torch.tensor([9, 4])
    a = model(pad(samples, 9, garbage=False), lengths)
    b = model(pad(samples, 17, garbage=True), lengths)
    torch.testing.assert_close(a, b)


def test_time_and_frequency_are_halved_per_block() -> None:
    model = _cnn(channels=[2, 3], hidden=[])
    # 6 features -> 3 -> 2 frequency rows; mean and max of 3 channels per row.
    assert model.head[0].in_features == 2 * 3 * 2
    mask = torch.ones(1, 7, dtype=torch.bool)
    h, mask = model.blocks[0](torch.randn(1, 1, FEATURES, 7), mask)
    assert h.shape == (1, 2, 3, 4) and mask is not None and mask.shape == (1, 4)


def test_tokens_are_refused() -> None:
    with pytest.raises(ConfigError, match="needs audio frames, got tokens data"):
        SpectrogramCNN(InputSpec("tokens", (), vocab_size=5), 2, ModelConfig(name="cnn"))


def test_overfits_a_tiny_task() -> None:
    x, lengths, y = loud_feature_task()
    assert fit(_cnn(channels=[8, 8], batchnorm=True), x, lengths, y, steps=60, lr=1e-2) < 0.1
