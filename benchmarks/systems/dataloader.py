"""The bare loop over ``DataLoader(TensorDataset(X, y), batch_size=B, shuffle=True)``.

The DataLoader fetches and collates sample by sample: this is what most hand-written loops use.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.systems import torch_loop
from benchmarks.workload import Arrays


def _batches(x: torch.Tensor, y: torch.Tensor) -> torch_loop.MakeBatches:
    def make(batch_size: int) -> torch_loop.Batches:
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
        return lambda: loader

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
