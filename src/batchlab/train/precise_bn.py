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

Under data parallelism every worker runs its own share of each batch through the bare model (not the
``DistributedDataParallel`` wrapper, which would overwrite the other workers' statistics with the first
worker's at every forward pass), then the workers average their statistics, weighted by the batches
each counted: every worker ends with the same statistics, those one process computes over all the
workers' batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch

from batchlab.data.batch import Batch
from batchlab.train.distributed import all_reduce_sum, is_distributed

__all__ = ["average_over_workers", "batch_norm_layers", "recompute_batch_norm", "unwrap_model"]


def batch_norm_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Layers of ``model`` that keep running statistics (``running_mean``, ``reset_running_stats``)."""
    return [
        m
        for m in model.modules()
        if isinstance(getattr(m, "running_mean", None), torch.Tensor) and hasattr(m, "reset_running_stats")
    ]


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a ``torch.compile`` and a ``DistributedDataParallel`` wrapper (itself if neither)."""
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    return getattr(model, "_orig_mod", model)


def average_over_workers(layers: list[torch.nn.Module], passes: int) -> int:
    """Replace each layer's running statistics by their average over the workers' batches.

    After the recomputation each worker's running mean and variance are the plain averages over the
    ``num_batches_tracked`` statistics batches it counted (ghost batch norm: ghost batches); the
    workers' averages are combined weighted by those counts, so the result is the average over all
    workers' batches, the same on every worker, and ``num_batches_tracked`` becomes the total. One
    process: nothing changes.

    Args:
        layers: the batch-norm layers, in the same order on every worker.
        passes: the forward passes this worker made.

    Returns:
        The forward passes of all workers together.
    """
    if not is_distributed() or not layers:
        return passes
    running_mean: torch.Tensor = layers[0].running_mean  # type: ignore[assignment]
    device = running_mean.device
    total = int(all_reduce_sum(torch.tensor([float(passes)], device=device, dtype=torch.float64)).item())
    for layer in layers:
        tracked = getattr(layer, "num_batches_tracked", None)
        weight = float(tracked) if isinstance(tracked, torch.Tensor) else float(passes)
        count = all_reduce_sum(torch.tensor([weight], device=device, dtype=torch.float64))
        if float(count) == 0:
            continue
        for name in ("running_mean", "running_var"):
            buffer: torch.Tensor = getattr(layer, name)
            summed = all_reduce_sum(buffer.double() * weight)
            buffer.copy_((summed / count).to(buffer.dtype))
        if isinstance(tracked, torch.Tensor):
            tracked.fill_(int(count.item()))
    return total


def recompute_batch_norm(
    model: torch.nn.Module, batches: Iterable[Batch], max_batches: int, *, micro_batches: int = 1, min_micro: int = 1
) -> int:
    """Set every batch-norm layer's running statistics to the average over training batches.

    Under data parallelism, call it on every worker with its own batches: every worker ends with
    the average over all workers' batches (see the module).

    Args:
        model: the model (or its data-parallel or compiled wrapper); left in training mode.
        batches: training batches, as the loop iterates them.
        max_batches: use at most this many batches.
        micro_batches: cut each batch into this many micro-batches, as gradient accumulation does.
        min_micro: the smallest micro-batch (see :meth:`Batch.split`).

    Returns:
        The number of forward passes made, over all workers (0 when the model has no batch norm).
    """
    model = unwrap_model(model)
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
    with torch.no_grad():
        return average_over_workers(layers, passes)
