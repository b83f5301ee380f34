"""Model builders by the names ``model.name`` accepts."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError, did_you_mean
from batchlab.inputs import InputSpec
from batchlab.models.cnn import build_cnn
from batchlab.models.mlp import build_mlp

__all__ = ["MODEL_BUILDERS", "ModelBuilder", "build_model"]

ModelBuilder = Callable[[ModelConfig, tuple[int, ...], int], nn.Module]
"""``builder(cfg, input_shape, num_outputs) -> nn.Module``."""

MODEL_BUILDERS: dict[str, ModelBuilder] = {"mlp": build_mlp, "cnn": build_cnn}
"""The builder of each model family, by ``model.name``."""


def build_model(
    cfg: ModelConfig, input_shape: InputSpec | tuple[int, ...], num_outputs: int, *, task: str = "classification"
) -> nn.Module:
    """Build the network ``cfg.name`` names, sized for the data.

    The weights get torch's default initialization from the global RNG: seed it first
    (``torch.manual_seed``) for reproducible weights.

    Args:
        cfg: the ``model`` section.
        input_shape: one sample's shape without the batch dimension: ``(features,)`` for tables,
            ``(channels, height, width)`` for images.
        num_outputs: output width: number of classes, or of regression targets.

    Returns:
        A module mapping ``(batch, *input_shape)`` to ``(batch, num_outputs)``.

    Raises:
        ConfigError: an unknown model name, or a model that does not fit the data's shape.

    >>> from batchlab.config import ModelConfig
    >>> import torch
    >>> model = build_model(ModelConfig(name="cnn", channels=[4], hidden=[]), (1, 8, 8), 10)
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    builder = MODEL_BUILDERS.get(cfg.name)
    if builder is None:
        raise ConfigError(f"model.name: unknown model {cfg.name!r}; {did_you_mean(cfg.name, MODEL_BUILDERS)}")
    shape = input_shape.shape if isinstance(input_shape, InputSpec) else tuple(input_shape)
    return builder(cfg, shape, num_outputs)
