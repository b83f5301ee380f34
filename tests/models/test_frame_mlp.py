from __future__ import annotations

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import FrameStatsMLP
from tests.models.conftest import FEATURES, fit, frame_sample, loud_feature_task, padding_gap

SPEC = InputSpec("frames", (FEATURES,), variable_length=True)


def _mlp(**fields: object) -> FrameStatsMLP:
    torch.manual_seed(0)
    return FrameStatsMLP(SPEC, 3, ModelConfig(**{"hidden": [16], **fields}))  # type: ignore[arg-type]


@pytest.mark.parametrize("garbage", [False, True])
def test_padding_does_not_change_the_output(garbage: bool) -> None:
    model = _mlp(batchnorm=True, dropout=0.2)
    assert padding_gap(model, frame_sample(5), [frame_sample(12), frame_sample(1)], garbage=garbage) < 1e-5


def test_head_reads_the_mean_and_standard_deviation_of_each_feature() -> None:
    model = _mlp(hidden=[]).eval()
    frames = frame_sample(9)
    stats = torch.cat([frames.mean(0), torch.sqrt(frames.var(0, unbiased=False) + 1e-5)])
    assert model.head[0].in_features == 2 * FEATURES
    torch.testing.assert_close(model(frames[None])[0], model.head(stats[None])[0])


def test_tokens_are_refused() -> None:
    with pytest.raises(ConfigError, match="needs audio frames, got tokens data"):
        FrameStatsMLP(InputSpec("tokens", (), vocab_size=5), 2, ModelConfig())


def test_overfits_a_tiny_task() -> None:
    x, lengths, y = loud_feature_task()
    assert fit(_mlp(hidden=[32]), x, lengths, y, steps=100, lr=1e-2) < 0.1
