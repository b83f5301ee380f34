"""Normalization of the token vectors of a padded sequence batch, ``(batch, time, features)``.

What each normalizes over (``model.block_norm`` in transformer and GPT blocks; ``model.norm`` on the
outputs of a recurrent language model):

- ``layer``: each token on its own, over its ``features`` (``nn.LayerNorm``).
- ``group``: each token on its own, over the features of each of ``norm_groups`` groups.
- ``batch``: each feature over the **valid tokens of the whole batch**: every step of every sequence
  up to its length, padding excluded. The same as ``BatchNorm1d`` over the valid tokens laid end to
  end; running statistics for evaluation.
- ``none``: nothing.

Only ``batch`` couples the samples of a batch, and only ``batch`` needs the padding mask: the
per-token norms never see another step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from batchlab.models.masked_norm import MaskedBatchNorm2d

__all__ = ["TOKEN_NORMS", "TokenBatchNorm", "TokenGroupNorm", "apply_token_norm", "token_norm_layer"]

TOKEN_NORMS = ("layer", "group", "batch", "none")
"""The normalizations :func:`token_norm_layer` builds."""


class TokenBatchNorm(MaskedBatchNorm2d):
    """Batch norm of each feature over the valid tokens of a ``(batch, time, features)`` batch.

    In training, the mean and (biased) variance of each feature come from the tokens at steps
    ``t < lengths[b]`` of every sequence ``b``; padded steps change neither the normalization nor the
    running statistics (updated with their unbiased variance, as ``nn.BatchNorm1d``). Padded steps get
    an output too (normalized with the same statistics), which the attention mask and the pooling
    then ignore. In evaluation, the running statistics. Parameter and buffer names are those of
    ``nn.BatchNorm1d``.

    Args:
        features: features of each token.
        eps: added to the variance before the square root.
        momentum: weight of the current batch in the running statistics (``None``: cumulative mean).
    """

    def __init__(self, features: int, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__(features, eps=eps, momentum=momentum)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalize each feature.

        Args:
            x: ``(batch, time, features)``.
            mask: ``(batch, time)`` bool, ``True`` at valid steps; ``None``: all valid.

        Returns:
            ``(batch, time, features)``.
        """
        maps = x.transpose(1, 2).unsqueeze(2)  # (batch, features, 1, time): a one-row map per sequence
        return super().forward(maps, mask).squeeze(2).transpose(1, 2)


class TokenGroupNorm(nn.GroupNorm):
    """Group norm of each token on its own, over the features of each of ``groups`` groups.

    ``nn.GroupNorm`` on a ``(batch, features, time)`` tensor would also pool the steps of a sequence;
    this one normalizes every token's vector separately, so padding never matters. With one group it
    is ``nn.LayerNorm``.

    Args:
        groups: feature groups (must divide ``features``).
        features: features of each token.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, time, features)`` to the same shape."""
        flat = x.reshape(-1, x.shape[-1])
        return F.group_norm(flat, self.num_groups, self.weight, self.bias, self.eps).view_as(x)


def token_norm_layer(kind: str, features: int, groups: int = 1) -> nn.Module:
    """The token normalization ``kind`` (one of :data:`TOKEN_NORMS`) for ``features``-wide tokens.

    Args:
        kind: ``layer``, ``group``, ``batch`` or ``none``.
        features: width of each token's vector.
        groups: ``group``: feature groups.

    Returns:
        A module keeping the shape ``(batch, time, features)`` (``nn.Identity`` for ``none``); call it
        through :func:`apply_token_norm`, which hands the padding mask to ``batch``.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind == "group":
        return TokenGroupNorm(groups, features)
    if kind == "batch":
        return TokenBatchNorm(features)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown token norm {kind!r}; expected one of {', '.join(TOKEN_NORMS)}")


def apply_token_norm(norm: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``norm(x)``, with the ``(batch, time)`` valid-step mask for the norms that pool over tokens."""
    if isinstance(norm, TokenBatchNorm):
        return norm(x, mask)  # type: ignore[no-any-return]
    return norm(x)  # type: ignore[no-any-return]
