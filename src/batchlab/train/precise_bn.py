"""Precise batch norm: recompute the running statistics of batch-norm layers on training batches.

Batch norm evaluates with running statistics, an exponential average (``momentum`` 0.1) of the last
few training batches' statistics, taken while the weights were still moving. With tiny batches each
batch's statistics are noisy and the average covers few samples, so evaluation normalizes with a
poor estimate. Before an evaluation, :func:`recompute_batch_norm` resets the running statistics and
replaces them by the plain average over ``N`` training batches of the current weights (Wu & Johnson,
2021, "Rethinking 'Batch' in BatchNorm"), with no gradient and without touching the random state
training uses next, so the training trajectory is unchanged.

The batches are the training batches as training sees them: the same order, augmentation and
micro-batches (gradient accumulation), in training mode (dropout included); so the statistics are
those of the inputs the layers were trained on, not of un-augmented data. Each (micro-)batch's mean and
unbiased variance count once (ghost batch norm: each ghost batch).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch

from batchlab.data.batch import Batch

__all__ = ["batch_norm_layers", "recompute_batch_norm"]


def batch_norm_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Layers of ``model`` that keep running statistics (``running_mean``, ``reset_running_stats``)."""
    return [
        m
        for m in model.modules()
        if isinstance(getattr(m, "running_mean", None), torch.Tensor) and hasattr(m, "reset_running_stats")
    ]


def recompute_batch_norm(
    model: torch.nn.Module, batches: Iterable[Batch], max_batches: int, *, micro_batches: int = 1, min_micro: int = 1
) -> int:
    """Set every batch-norm layer's running statistics to the average over training batches.

    Args:
        model: the model (or its data-parallel wrapper); left in training mode.
        batches: training batches, as the loop iterates them.
        max_batches: use at most this many batches.
        micro_batches: cut each batch into this many micro-batches, as gradient accumulation does.
        min_micro: the smallest micro-batch (see :meth:`Batch.split`).

    Returns:
        The number of forward passes made (0 when the model has no batch norm).
    """
    layers = batch_norm_layers(model)
    if not layers or max_batches < 1:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()  # type: ignore[operator]
        setattr(layer, "momentum", None)  # noqa: B010  (a cumulative average over the batches below)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    devices = [device.index or 0] if device.type == "cuda" else []
    passes = 0
    model.train()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():  # dropout draws stay out of training's
            for batch in islice(batches, max_batches):
                for micro in batch.split(micro_batches, min_micro):
                    if len(micro):
                        model(*micro.inputs)
                        passes += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            setattr(layer, "momentum", momentum)  # noqa: B010
    return passes
