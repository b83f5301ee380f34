"""Batch normalization whose statistics skip the padded frames of a spectrogram batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaskedBatchNorm2d"]


class MaskedBatchNorm2d(nn.Module):
    """``BatchNorm2d`` over ``(batch, channels, freq, time)`` maps, counting valid frames only.

    In training, the mean and variance of each channel are taken over the valid time steps of
    every sample (all frequency rows), so how much padding a batch carries changes neither the
    normalization nor the running statistics; ordinary batch norm would count padded zeros. In
    evaluation the running statistics are used, as in ``nn.BatchNorm2d``. Parameter and buffer
    names match ``nn.BatchNorm2d``. Not converted by ``nn.SyncBatchNorm.convert_sync_batchnorm``:
    the statistics stay per process.

    Args:
        channels: channels of the input.
        eps: added to the variance before the square root.
        momentum: weight of the current batch in the running statistics.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalize each channel.

        Args:
            x: ``(batch, channels, freq, time)``.
            mask: ``(batch, time)`` bool, ``True`` at valid frames; ``None``: all valid.

        Returns:
            ``(batch, channels, freq, time)``.
        """
        if not self.training or mask is None:
            if self.training:
                self.num_batches_tracked += 1
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
            )
        valid = mask[:, None, None, :]
        count = mask.sum() * x.shape[2]
        # Statistics in float32 even under autocast, as F.batch_norm keeps them.
        values = x.float()
        mean = torch.where(valid, values, 0.0).sum(dim=(0, 2, 3)) / count
        centred = values - mean[None, :, None, None]
        var = torch.where(valid, centred.square(), 0.0).sum(dim=(0, 2, 3)) / count
        with torch.no_grad():
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
            self.num_batches_tracked += 1
        scale = self.weight * torch.rsqrt(var + self.eps)
        return (centred * scale[None, :, None, None] + self.bias[None, :, None, None]).to(x.dtype)
