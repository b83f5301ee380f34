"""The bare loop: ``perm = torch.randperm(n)``, ``X[perm[i:i+B]]``, forward/backward/step.

The limit for framework overhead: nothing but the work. Its optimizer is torch's default SGD.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from benchmarks.systems import torch_loop
from benchmarks.workload import Arrays


def _batches(x: torch.Tensor, y: torch.Tensor) -> torch_loop.MakeBatches:
    def make(batch_size: int) -> torch_loop.Batches:
        def epoch() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            n = len(x)
            perm = torch.randperm(n)
            for i in range(0, n, batch_size):
                rows = perm[i : i + batch_size]
                yield x[rows], y[rows]

        return epoch

    return make


def throughput(data: Arrays, batch_size: int, warmup: int, timed: int) -> dict[str, float]:
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    return torch_loop.throughput(data, batch_size, warmup, timed, _batches(x, y))


def time_to_accuracy(data: Arrays, target: float, max_epochs: int) -> dict[str, float]:
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    return torch_loop.time_to_accuracy(data, target, max_epochs, _batches(x, y))


def prepare() -> None:
    """Import lazily loaded modules (torch.optim's first optimizer imports torch._dynamo) before timing."""
    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
