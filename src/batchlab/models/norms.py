"""The normalization layers ``model.norm`` chooses between, and what each normalizes over.

- ``batch``: each feature (channel) over the samples of the batch (and the pixels of a map);
  running statistics for evaluation.
- ``ghost``: batch norm over consecutive slices of ``model.ghost_batch_size`` samples, each slice
  normalized with its own statistics and each updating the running statistics in turn, as if the
  slices were separate batches (Hoffer et al., 2017). In evaluation, the running statistics.
- ``group``: each sample on its own, over the channels of each of ``model.norm_groups`` groups (and
  the pixels of a map); no running statistics, the same in training and evaluation.
- ``layer``: each sample on its own over all its features (a map's channels and pixels).
- ``none``: nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from batchlab.config import ModelConfig

__all__ = ["GhostBatchNorm", "ghost_slices", "norm_layer"]


def ghost_slices(batch: int, size: int) -> list[int]:
    """Sizes of the ghost batches a batch of ``batch`` samples is cut into (``size`` each, in order).

    A remainder of one sample joins the slice before it (batch statistics need 2 samples); a batch
    no larger than ``size`` is one slice.

    >>> ghost_slices(64, 16), ghost_slices(70, 16), ghost_slices(65, 16), ghost_slices(8, 16)
    ([16, 16, 16, 16], [16, 16, 16, 16, 6], [16, 16, 16, 17], [8])
    """
    if batch <= size:
        return [batch]
    sizes = [size] * (batch // size)
    rest = batch % size
    if rest == 1:
        sizes[-1] += 1
    elif rest:
        sizes.append(rest)
    return sizes


class GhostBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over ghost batches: ``(batch, features)`` or ``(batch, channels, height, width)``.

    In training, the batch is cut by :func:`ghost_slices` and each slice goes through batch norm on
    its own: the output equals concatenating separate ``BatchNorm`` calls, one per slice, and the
    running statistics (and ``num_batches_tracked``) are updated once per slice, in order. In
    evaluation, the running statistics, as ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``. Converted by
    ``nn.SyncBatchNorm.convert_sync_batchnorm`` into plain synchronized batch norm, so batchlab
    refuses ``norm: ghost`` with ``model.sync_batchnorm``.

    Args:
        num_features: features (or channels) of the input.
        ghost_size: samples per ghost batch.
    """

    def __init__(self, num_features: int, ghost_size: int, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.ghost_size = ghost_size

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3, 4):
            raise ValueError(f"expected a 2-D, 3-D or 4-D input, got {input.dim()}-D")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, ghost_size={self.ghost_size}"  # type: ignore[no-untyped-call]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalize ``input`` (shape kept)."""
        if not self.training:
            return super().forward(input)
        self._check_input_dim(input)
        outputs = []
        for part in torch.split(input, ghost_slices(input.shape[0], self.ghost_size)):
            self.num_batches_tracked.add_(1)  # type: ignore[union-attr]
            factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)  # type: ignore[arg-type]
            outputs.append(
                F.batch_norm(part, self.running_mean, self.running_var, self.weight, self.bias, True, factor, self.eps)
            )
        return torch.cat(outputs)


def norm_layer(cfg: ModelConfig, features: int, *, maps: bool) -> nn.Module | None:
    """The normalization layer of ``cfg.norm`` for ``features`` features or channels.

    Args:
        cfg: the ``model`` section: ``norm``, ``ghost_batch_size``, ``norm_groups``.
        features: width of a ``(batch, features)`` input, or channels of a ``(batch, channels, H, W)`` map.
        maps: whether the input is a map (convolutions) rather than a vector.

    Returns:
        A module keeping the input's shape, or ``None`` for ``norm: none``.
    """
    norm = cfg.norm or ("batch" if cfg.batchnorm else "none")
    if norm == "batch":
        return nn.BatchNorm2d(features) if maps else nn.BatchNorm1d(features)
    if norm == "ghost":
        return GhostBatchNorm(features, cfg.ghost_batch_size)
    if norm == "group":
        return nn.GroupNorm(cfg.norm_groups, features)
    if norm == "layer":
        # A map's layer norm is over channels and pixels of each sample: one group of all channels.
        return nn.GroupNorm(1, features) if maps else nn.LayerNorm(features)
    return None
