"""Lightning ``Trainer.fit`` over a ``DataLoader(TensorDataset, shuffle=True)``.

Progress bar, logger, checkpointing and the model summary off (its fastest setting); validation only
in the time-to-accuracy run, where a callback stops the trainer at the target.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

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


def _module(widths: tuple[int, ...], make_optimizer: Any) -> Any:
    import lightning as L

    class Classifier(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = make_mlp(widths)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_acc", (self.net(x).argmax(dim=1) == y).float().mean(), on_epoch=True)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return make_optimizer(self.parameters())

    return Classifier()


def _trainer(epochs: int, callbacks: list[Any]) -> Any:
    import lightning as L

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )


def throughput(data: Arrays, batch_size: int, warmup: int, timed: int) -> dict[str, float]:
    import lightning as L

    ends: list[float] = []

    class EpochTimer(L.Callback):  # type: ignore[misc]
        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            ends.append(time.perf_counter())

    torch.manual_seed(0)
    module = _module(
        (data.x_train.shape[1], *HIDDEN, N_CLASSES), lambda p: torch.optim.SGD(p, lr=LR, momentum=MOMENTUM)
    )
    loader = DataLoader(
        TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)),
        batch_size=batch_size,
        shuffle=True,
    )
    _trainer(warmup + timed, [EpochTimer()]).fit(module, loader)
    seconds = ends[-1] - ends[warmup - 1]
    return {"samples_per_s": timed * len(data.x_train) / seconds, "seconds": seconds}


def time_to_accuracy(data: Arrays, target: float, max_epochs: int) -> dict[str, float]:
    import lightning as L

    reached: dict[str, float] = {}

    class StopAtTarget(L.Callback):  # type: ignore[misc]
        def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
            accuracy = float(trainer.callback_metrics.get("val_acc", 0.0))
            if accuracy >= target and not reached:
                reached.update(seconds=time.perf_counter() - start, epochs=trainer.current_epoch + 1, reached=1)
                trainer.should_stop = True

    train = DataLoader(
        TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)),
        batch_size=DIGITS_BATCH,
        shuffle=True,
    )
    val = DataLoader(
        TensorDataset(torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)), batch_size=len(data.x_val)
    )
    start = time.perf_counter()
    torch.manual_seed(0)
    module = _module((data.x_train.shape[1], *DIGITS_HIDDEN, 10), lambda p: torch.optim.Adam(p, lr=DIGITS_LR))
    _trainer(max_epochs, [StopAtTarget()]).fit(module, train, val)
    return reached or {"seconds": time.perf_counter() - start, "epochs": max_epochs, "reached": 0}


def prepare() -> None:
    """Import Lightning and torch's lazily loaded modules before timing."""
    import lightning  # noqa: F401

    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
