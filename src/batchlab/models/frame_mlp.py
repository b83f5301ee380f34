"""The classic speech DNN: an MLP over statistics of the feature frames of a recording."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models.masks import valid_mask
from batchlab.models.mlp import dense_head
from batchlab.models.pooling import masked_mean, masked_std

__all__ = ["FrameStatsMLP"]


class FrameStatsMLP(nn.Module):
    """Mean and standard deviation of each feature over a recording's valid frames, then an MLP.

    The ``2 * features`` statistics (means first) feed one dense block per entry of ``cfg.hidden``
    (with the ``norm`` and ``dropout`` options) and a linear output. Frame order is ignored;
    padding never changes the output. ``model.pooling`` does not apply.

    Args:
        spec: a ``frames`` input, ``spec.shape == (features,)``.
        num_outputs: output width (classes, or regression targets).
        cfg: the ``model`` section: ``hidden``, ``activation``, ``norm``, ``dropout``.

    Raises:
        ConfigError: the input is not audio frames.

    Example:
        >>> model = FrameStatsMLP(InputSpec("frames", (40,)), 10, ModelConfig(hidden=[64]))
        >>> model(torch.randn(2, 50, 40), torch.tensor([50, 31])).shape
        torch.Size([2, 10])
    """

    def __init__(self, spec: InputSpec, num_outputs: int, cfg: ModelConfig) -> None:
        super().__init__()
        if spec.kind != "frames" or len(spec.shape) != 1:
            raise ConfigError(f"model.name: FrameStatsMLP needs audio frames, got {spec.kind} data {spec.shape}")
        self.head = dense_head(2 * spec.shape[0], num_outputs, cfg)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Classify (or regress) each recording.

        Args:
            x: ``(batch, time, features)`` float frames, padded.
            lengths: ``(batch,)`` int64 valid frames (each >= 1), or ``None`` (no padding).

        Returns:
            ``(batch, num_outputs)`` logits or values.
        """
        mask = valid_mask(lengths, x.shape[0], x.shape[1], x.device)
        stats = torch.cat([masked_mean(x, mask), masked_std(x, mask)], dim=1)
        return self.head(stats)  # type: ignore[no-any-return]
