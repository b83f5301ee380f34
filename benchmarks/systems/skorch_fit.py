"""skorch ``NeuralNetClassifier.fit`` (``verbose=0``; a predefined validation split for time to accuracy)."""

from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.workload import (
    DIGITS_BATCH,
    DIGITS_HIDDEN,
    DIGITS_LR,
    HIDDEN,
    LR,
    MOMENTUM,
    N_CLASSES,
    Arrays,
    make_mlp,
)


def throughput(data: Arrays, batch_size: int, warmup: int, timed: int) -> dict[str, float]:
    from skorch import NeuralNetClassifier
    from skorch.callbacks import Callback

    ends: list[float] = []

    class EpochTimer(Callback):  # type: ignore[misc]
        def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
            ends.append(time.perf_counter())

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        make_mlp((data.x_train.shape[1], *HIDDEN, N_CLASSES)),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        lr=LR,
        optimizer__momentum=MOMENTUM,
        batch_size=batch_size,
        max_epochs=warmup + timed,
        train_split=None,
        iterator_train__shuffle=True,
        callbacks=[EpochTimer()],
        verbose=0,
    )
    net.fit(data.x_train, data.y_train)
    seconds = ends[-1] - ends[warmup - 1]
    return {"samples_per_s": timed * len(data.x_train) / seconds, "seconds": seconds}


def time_to_accuracy(data: Arrays, target: float, max_epochs: int) -> dict[str, float]:
    from skorch import NeuralNetClassifier
    from skorch.callbacks import Callback, EpochScoring
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    reached: dict[str, float] = {}

    class StopAtTarget(Callback):  # type: ignore[misc]
        def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
            if net.history[-1, "val_acc"] >= target and not reached:
                reached.update(seconds=time.perf_counter() - start, epochs=len(net.history), reached=1)
                raise KeyboardInterrupt  # skorch's way to end fit early

    start = time.perf_counter()
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        make_mlp((data.x_train.shape[1], *DIGITS_HIDDEN, 10)),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=DIGITS_LR,
        batch_size=DIGITS_BATCH,
        max_epochs=max_epochs,
        train_split=predefined_split(Dataset(data.x_val, data.y_val)),
        iterator_train__shuffle=True,
        callbacks=[EpochScoring("accuracy", name="val_acc", lower_is_better=False), StopAtTarget()],
        verbose=0,
    )
    net.fit(data.x_train, data.y_train)
    return reached or {"seconds": time.perf_counter() - start, "epochs": max_epochs, "reached": 0}


def prepare() -> None:
    """Import skorch and torch's lazily loaded modules before timing."""
    import skorch  # noqa: F401

    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
