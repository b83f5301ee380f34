"""Pooling of a padded sequence of vectors into one vector per sequence, ignoring the padding.

Every function takes ``values`` ``(batch, time, features)`` and a ``(batch, time)`` bool mask
(``True`` = a valid step, see :func:`~batchlab.models.masks.valid_mask`), and returns
``(batch, features)``. Values at padded steps never change the result. Every sequence must have at
least one valid step.
"""

from __future__ import annotations

import torch

from batchlab.errors import ConfigError, did_you_mean

__all__ = ["POOLINGS", "last_valid", "masked_max", "masked_mean", "masked_std", "pool_sequence"]

POOLINGS = ("mean", "max", "last", "cls")
"""The names ``model.pooling`` accepts."""


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid steps.

    >>> masked_mean(torch.tensor([[[1.0], [3.0], [100.0]]]), torch.tensor([[True, True, False]])).tolist()
    [[2.0]]
    """
    # where() rather than a product, so that inf or NaN in the padding cannot leak in.
    total = torch.where(mask.unsqueeze(-1), values, 0.0).sum(dim=1)
    return total / _count(mask, values.dtype)


def masked_std(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Standard deviation over the valid steps: ``sqrt(mean((v - mean)²) + eps)``.

    The population variance (divisor = valid steps) is used, so one valid step gives ``sqrt(eps)``;
    ``eps`` keeps the gradient finite there.

    >>> masked_std(torch.tensor([[[1.0], [3.0], [100.0]]]), torch.tensor([[True, True, False]]), eps=0.0).tolist()
    [[1.0]]
    """
    mean = masked_mean(values, mask)
    centred = torch.where(mask.unsqueeze(-1), values - mean.unsqueeze(1), 0.0)
    return torch.sqrt(centred.square().sum(dim=1) / _count(mask, values.dtype) + eps)


def masked_max(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Largest value of each feature over the valid steps.

    >>> masked_max(torch.tensor([[[1.0], [-3.0], [100.0]]]), torch.tensor([[True, True, False]])).tolist()
    [[1.0]]
    """
    return values.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)


def last_valid(values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """The vector at each sequence's last valid step, ``values[b, lengths[b] - 1]``.

    Args:
        values: ``(batch, time, features)``.
        lengths: ``(batch,)`` valid steps, or ``None`` (no padding: the step ``time - 1``).

    >>> last_valid(torch.tensor([[[1.0], [2.0], [3.0]]]), torch.tensor([2])).tolist()
    [[2.0]]
    """
    if lengths is None:
        return values[:, -1]
    index = (lengths - 1).to(values.device).view(-1, 1, 1).expand(-1, 1, values.shape[-1])
    return values.gather(1, index).squeeze(1)


def _count(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(batch, 1)`` valid steps of each sequence, at least 1."""
    return mask.sum(dim=1, keepdim=True).to(dtype).clamp(min=1.0)


def pool_sequence(values: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor | None, mode: str) -> torch.Tensor:
    """Pool ``values`` over time by ``mode``, one of :data:`POOLINGS`.

    Args:
        values: ``(batch, time, features)``.
        mask: ``(batch, time)`` bool, ``True`` at valid steps.
        lengths: ``(batch,)`` valid steps or ``None``; used by ``last``.
        mode: ``mean`` and ``max`` over valid steps, ``last`` valid step, or ``cls``: the first
            step (where a model put its class vector).

    Returns:
        ``(batch, features)``.

    Raises:
        ConfigError: an unknown mode.
    """
    if mode == "mean":
        return masked_mean(values, mask)
    if mode == "max":
        return masked_max(values, mask)
    if mode == "last":
        return last_valid(values, lengths)
    if mode == "cls":
        return values[:, 0]
    raise ConfigError(f"model.pooling: unknown value {mode!r}; {did_you_mean(mode, POOLINGS)}")
