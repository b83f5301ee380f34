"""2-D convolutional network over the spectrogram of a recording (time × frequency)."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models.activations import dropout_layer, make_activation
from batchlab.models.masked_norm import MaskedBatchNorm2d, MaskedGroupNorm
from batchlab.models.masks import valid_mask
from batchlab.models.mlp import dense_head
from batchlab.models.pooling import masked_max, masked_mean

__all__ = ["SpectrogramBlock", "SpectrogramCNN", "masked_norm"]


def masked_norm(cfg: ModelConfig, channels: int) -> MaskedBatchNorm2d | MaskedGroupNorm | None:
    """The padding-aware norm of ``cfg.norm`` for a map of ``channels`` channels (``None``: norm none).

    batch and ghost: :class:`MaskedBatchNorm2d` (ghost: with ``cfg.ghost_batch_size``); group:
    :class:`MaskedGroupNorm` of ``cfg.norm_groups`` groups; layer: one group.
    """
    norm = cfg.norm or ("batch" if cfg.batchnorm else "none")
    if norm in ("batch", "ghost"):
        return MaskedBatchNorm2d(channels, ghost_size=cfg.ghost_batch_size if norm == "ghost" else None)
    if norm in ("group", "layer"):
        return MaskedGroupNorm(cfg.norm_groups if norm == "group" else 1, channels)
    return None


class SpectrogramBlock(nn.Module):
    """Conv2d → (masked norm, :func:`masked_norm`) → activation → 2×2 max-pool → dropout, keeping padding at zero.

    The convolution keeps the map's size (``padding = kernel_size // 2``); since padded frames are
    zero on the way in, a valid frame next to the padding sees exactly the zeros it would see at
    the edge of an unpadded recording. Pooling windows ignore padded frames, pooled frames made
    only of padding are zeroed again, and a recording of ``n`` valid frames has ``ceil(n / 2)``
    after the block. Frequency is halved too (rounding up) while it has 2 rows or more.

    Args:
        in_channels: channels of the input map.
        out_channels: channels of the output map.
        cfg: the ``model`` section: ``kernel_size``, ``norm`` and its options, ``activation``, ``dropout``.
        pool_freq: halve the frequency axis as well as time.
    """

    def __init__(self, in_channels: int, out_channels: int, cfg: ModelConfig, pool_freq: bool) -> None:
        super().__init__()
        size = cfg.kernel_size
        self.norm = masked_norm(cfg, out_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, size, padding=size // 2, bias=self.norm is None)
        self.activation = make_activation(cfg.activation)
        self.pool = nn.MaxPool2d((2 if pool_freq else 1, 2), ceil_mode=True)
        self.dropout = dropout_layer(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Apply the block.

        Args:
            x: ``(batch, channels, freq, time)``, zero at padded frames.
            mask: ``(batch, time)`` bool, ``True`` at valid frames; ``None``: no padding.

        Returns:
            The output map ``(batch, out_channels, freq', ceil(time / 2))``, zero at padded frames,
            and its mask ``(batch, ceil(time / 2))`` (``None`` stays ``None``).
        """
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x, mask)
        x = self.activation(x)
        if mask is None:
            return self.dropout(self.pool(x)), None
        x = self.pool(x.masked_fill(~mask[:, None, None, :], float("-inf")))
        # A pooled frame is valid when the first frame of its window was: ceil(n / 2) of them.
        mask = mask[:, ::2]
        return self.dropout(x.masked_fill(~mask[:, None, None, :], 0.0)), mask


class SpectrogramCNN(nn.Module):
    """A CNN over ``(batch, time, features)`` audio frames seen as a one-channel image.

    The frames become a ``(batch, 1, features, time)`` map and go through one
    :class:`SpectrogramBlock` per entry of ``cfg.channels``. Then, for each channel and frequency
    row, the mean and the maximum over valid frames are taken, giving ``2 * channels * freq'``
    features for the dense head (``cfg.hidden``) and a linear output. Padding never changes the
    output, in training (batch statistics count valid frames only) or in evaluation.
    ``model.pooling`` does not apply.

    Args:
        spec: a ``frames`` input, ``spec.shape == (features,)``.
        num_outputs: output width (classes, or regression targets).
        cfg: the ``model`` section: ``channels``, ``kernel_size``, ``norm`` and its options, ``activation``,
            ``dropout``, ``hidden``.

    Raises:
        ConfigError: the input is not audio frames.

    Example:
        >>> model = SpectrogramCNN(InputSpec("frames", (40,)), 10, ModelConfig(name="cnn", channels=[8], hidden=[]))
        >>> model(torch.randn(2, 50, 40), torch.tensor([50, 31])).shape
        torch.Size([2, 10])
    """

    def __init__(self, spec: InputSpec, num_outputs: int, cfg: ModelConfig) -> None:
        super().__init__()
        if spec.kind != "frames" or len(spec.shape) != 1:
            raise ConfigError(f"model.name: SpectrogramCNN needs audio frames, got {spec.kind} data {spec.shape}")
        freq = spec.shape[0]
        blocks = []
        in_channels = 1
        for out_channels in cfg.channels:
            blocks.append(SpectrogramBlock(in_channels, out_channels, cfg, pool_freq=freq >= 2))
            freq = (freq + 1) // 2 if freq >= 2 else freq
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.head = dense_head(2 * in_channels * freq, num_outputs, cfg)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Classify (or regress) each recording.

        Args:
            x: ``(batch, time, features)`` float frames, padded.
            lengths: ``(batch,)`` int64 valid frames (each >= 1), or ``None`` (no padding).

        Returns:
            ``(batch, num_outputs)`` logits or values.
        """
        mask = None if lengths is None else valid_mask(lengths, x.shape[0], x.shape[1])
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        h = x.transpose(1, 2).unsqueeze(1)
        for block in self.blocks:
            h, mask = block(h, mask)
        # (batch, channels, freq, time) -> (batch, time, channels * freq): pool each row over time.
        steps = h.flatten(1, 2).transpose(1, 2)
        valid = mask if mask is not None else valid_mask(None, steps.shape[0], steps.shape[1], steps.device)
        return self.head(torch.cat([masked_mean(steps, valid), masked_max(steps, valid)], dim=1))  # type: ignore[no-any-return]
