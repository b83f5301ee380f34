"""The hand-written PyTorch loop shared by the ``bare`` and ``dataloader`` systems.

It is the loop people write: ``zero_grad()``, forward, loss, ``backward()``, ``step()`` with torch's
default optimizer implementation, and a full validation pass in ``no_grad`` when one is asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from benchmarks.workload import Arrays

Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""A function returning one epoch of shuffled ``(x, y)`` batches."""
MakeBatches = Callable[[int], Batches]
"""``make(batch_size)`` gives the epoch function over the training arrays."""


def train_epochs(model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: Batches, epochs: int) -> list[float]:
    """Train ``epochs`` epochs; returns the ``perf_counter`` time at the end of each."""
    ends = []
    for _ in range(epochs):
        for xb, yb in epoch():
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        ends.append(time.perf_counter())
    return ends


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correct predictions of ``model`` on ``(x, y)``."""
    model.eval()
    correct = (model(x).argmax(dim=1) == y).float().mean().item()
    model.train()
    return float(correct)


def time_to_accuracy(data: Arrays, target: float, max_epochs: int, batches: MakeBatches) -> dict[str, float]:
    """Train the digits MLP with Adam until validation accuracy reaches ``target``.

    Args:
        batches: ``batches(batch_size)`` gives the epoch function over the training arrays.
    """
    from benchmarks.workload import DIGITS_BATCH, DIGITS_HIDDEN, DIGITS_LR, make_mlp

    x_val, y_val = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    start = time.perf_counter()
    torch.manual_seed(0)
    model = make_mlp((data.x_train.shape[1], *DIGITS_HIDDEN, 10))
    assert isinstance(model, torch.nn.Module)
    optimizer = torch.optim.Adam(model.parameters(), lr=DIGITS_LR)
    epoch = batches(DIGITS_BATCH)
    for n in range(1, max_epochs + 1):
        train_epochs(model, optimizer, epoch, 1)
        if accuracy(model, x_val, y_val) >= target:
            return {"seconds": time.perf_counter() - start, "epochs": n, "reached": 1}
    return {"seconds": time.perf_counter() - start, "epochs": max_epochs, "reached": 0}


def throughput(data: Arrays, batch_size: int, warmup: int, timed: int, batches: MakeBatches) -> dict[str, float]:
    """Samples/s of the timed epochs of the throughput MLP trained with plain SGD + momentum."""
    from benchmarks.workload import HIDDEN, LR, MOMENTUM, N_CLASSES, make_mlp

    torch.manual_seed(0)
    model = make_mlp((data.x_train.shape[1], *HIDDEN, N_CLASSES))
    assert isinstance(model, torch.nn.Module)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    start = time.perf_counter()
    ends = train_epochs(model, optimizer, batches(batch_size), warmup + timed)
    seconds = ends[-1] - (ends[warmup - 1] if warmup else start)
    return {"samples_per_s": timed * len(data.x_train) / seconds, "seconds": seconds}
