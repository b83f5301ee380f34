"""A model too large for the memory is refused before any weight is allocated, with its size."""

from __future__ import annotations

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.models import build_model
from batchlab.models.size import check_model_fits, parameter_count, training_bytes


@pytest.mark.parametrize(
    "cfg",
    [ModelConfig(name="mlp", hidden=[32, 16]), ModelConfig(name="cnn", channels=[4, 8], hidden=[16])],
)
def test_the_parameter_count_on_the_meta_device_matches_a_real_build(cfg: ModelConfig) -> None:
    shape = (4,) if cfg.name == "mlp" else (1, 8, 8)
    real = build_model(cfg, shape, 3)
    assert parameter_count(cfg, shape, 3, task="classification") == sum(p.numel() for p in real.parameters())


def test_training_bytes_count_weights_gradients_and_optimizer_state() -> None:
    assert training_bytes(10, "sgd") == 10 * 4 * 3
    assert training_bytes(10, "adam") == 10 * 4 * 4


def test_a_model_beyond_the_free_memory_is_an_error_naming_the_field_and_the_bytes() -> None:
    cfg = ModelConfig(name="mlp", hidden=[10_000_000, 10_000_000])
    with pytest.raises(ConfigError, match=r"model\.hidden: the mlp model would have 100,000,090,000,003 parameters"):
        check_model_fits(cfg, (4,), 3, task="classification", optimizer="sgd", device=torch.device("cpu"))


def test_a_small_model_passes() -> None:
    cfg = ModelConfig(name="mlp", hidden=[8])
    check_model_fits(cfg, (4,), 3, task="classification", optimizer="adam", device=torch.device("cpu"))
