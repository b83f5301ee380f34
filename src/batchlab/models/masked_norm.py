"""Normalization whose statistics skip the padded frames of a spectrogram batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from batchlab.models.norms import ghost_slices

__all__ = ["MaskedBatchNorm2d", "MaskedGroupNorm"]


class MaskedBatchNorm2d(nn.Module):
    """``BatchNorm2d`` over ``(batch, channels, freq, time)`` maps, counting valid frames only.

    In training, the mean and variance of each channel are taken over the valid time steps of
    every sample (all frequency rows), so how much padding a batch carries changes neither the
    normalization nor the running statistics; ordinary batch norm would count padded zeros. With
    ``ghost_size``, the batch is cut into ghost batches (:func:`~batchlab.models.norms.ghost_slices`)
    normalized one after the other, each updating the running statistics. In evaluation the running
    statistics are used, as in ``nn.BatchNorm2d``. Parameter and buffer names match
    ``nn.BatchNorm2d``; ``momentum = None`` averages the batches seen since the statistics were
    reset, as there. Not converted by ``nn.SyncBatchNorm.convert_sync_batchnorm``: the statistics
    stay per process.

    Args:
        channels: channels of the input.
        eps: added to the variance before the square root.
        momentum: weight of the current batch in the running statistics (``None``: cumulative mean).
        ghost_size: samples per ghost batch; ``None``: the whole batch.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor

    def __init__(
        self, channels: int, eps: float = 1e-5, momentum: float | None = 0.1, ghost_size: int | None = None
    ) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.ghost_size = ghost_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, no batch tracked (as ``nn.BatchNorm2d``)."""
        self.running_mean.zero_()
        self.running_var.fill_(1.0)
        self.num_batches_tracked.zero_()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalize each channel.

        Args:
            x: ``(batch, channels, freq, time)``.
            mask: ``(batch, time)`` bool, ``True`` at valid frames; ``None``: all valid.

        Returns:
            ``(batch, channels, freq, time)``.
        """
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        if self.ghost_size is None:
            return self._train(x, mask)
        sizes = ghost_slices(x.shape[0], self.ghost_size)
        masks = torch.split(mask, sizes) if mask is not None else [None] * len(sizes)
        return torch.cat([self._train(part, m) for part, m in zip(torch.split(x, sizes), masks, strict=True)])

    def _factor(self) -> float:
        """Weight of this batch in the running statistics (after counting it)."""
        self.num_batches_tracked += 1
        return self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)

    def _train(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            factor = self._factor()
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True, factor, self.eps)
        valid = mask[:, None, None, :]
        count = mask.sum() * x.shape[2]
        # Statistics in float32 even under autocast, as F.batch_norm keeps them.
        values = x.float()
        mean = torch.where(valid, values, 0.0).sum(dim=(0, 2, 3)) / count
        centred = values - mean[None, :, None, None]
        var = torch.where(valid, centred.square(), 0.0).sum(dim=(0, 2, 3)) / count
        with torch.no_grad():
            factor = self._factor()
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.lerp_(mean.detach(), factor)
            self.running_var.lerp_(unbiased.detach(), factor)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return (centred * scale[None, :, None, None] + self.bias[None, :, None, None]).to(x.dtype)


class MaskedGroupNorm(nn.Module):
    """``GroupNorm`` over ``(batch, channels, freq, time)`` maps, counting valid frames only.

    Each sample is normalized on its own, over the channels of each group, every frequency row and
    its valid time steps; the same in training and evaluation (no running statistics). One group is
    layer norm over the map.

    Args:
        groups: channel groups (must divide ``channels``).
        channels: channels of the input.
        eps: added to the variance before the square root.
    """

    def __init__(self, groups: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"groups={groups} must divide channels={channels}")
        self.groups = groups
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalize each sample's groups.

        Args:
            x: ``(batch, channels, freq, time)``.
            mask: ``(batch, time)`` bool, ``True`` at valid frames; ``None``: all valid.

        Returns:
            ``(batch, channels, freq, time)``.
        """
        if mask is None:
            return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)
        batch, channels, freq, time = x.shape
        values = x.float().reshape(batch, self.groups, channels // self.groups, freq, time)
        valid = mask[:, None, None, None, :]
        count = (mask.sum(dim=1) * (channels // self.groups) * freq).to(values.dtype)[:, None, None, None, None]
        mean = torch.where(valid, values, 0.0).sum(dim=(2, 3, 4), keepdim=True) / count
        centred = values - mean
        var = torch.where(valid, centred.square(), 0.0).sum(dim=(2, 3, 4), keepdim=True) / count
        normed = (centred * torch.rsqrt(var + self.eps)).reshape(batch, channels, freq, time)
        return (normed * self.weight[None, :, None, None] + self.bias[None, :, None, None]).to(x.dtype)
