"""Keras 3 ``model.fit`` on the torch backend (``KERAS_BACKEND=torch``), ``verbose=0``."""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.workload import DIGITS_BATCH, DIGITS_HIDDEN, DIGITS_LR, HIDDEN, LR, MOMENTUM, N_CLASSES, Arrays

os.environ.setdefault("KERAS_BACKEND", "torch")


def _model(inputs: int, hidden: tuple[int, ...], outputs: int, optimizer: Any, metrics: list[str]) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input((inputs,))] + [keras.layers.Dense(h, activation="relu") for h in hidden]
    model = keras.Sequential([*layers, keras.layers.Dense(outputs)])
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=metrics
    )
    return model


def throughput(data: Arrays, batch_size: int, warmup: int, timed: int) -> dict[str, float]:
    import keras

    ends: list[float] = []

    class EpochTimer(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            ends.append(time.perf_counter())

    optimizer = keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)
    model = _model(data.x_train.shape[1], HIDDEN, N_CLASSES, optimizer, [])
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=batch_size,
        epochs=warmup + timed,
        shuffle=True,
        verbose=0,
        callbacks=[EpochTimer()],
    )
    seconds = ends[-1] - ends[warmup - 1]
    return {"samples_per_s": timed * len(data.x_train) / seconds, "seconds": seconds}


def time_to_accuracy(data: Arrays, target: float, max_epochs: int) -> dict[str, float]:
    import keras

    reached: dict[str, float] = {}

    class StopAtTarget(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if (logs or {}).get("val_accuracy", 0.0) >= target and not reached:
                reached.update(seconds=time.perf_counter() - start, epochs=epoch + 1, reached=1)
                self.model.stop_training = True

    start = time.perf_counter()
    model = _model(data.x_train.shape[1], DIGITS_HIDDEN, 10, keras.optimizers.Adam(DIGITS_LR), ["accuracy"])
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=DIGITS_BATCH,
        epochs=max_epochs,
        shuffle=True,
        verbose=0,
        validation_data=(data.x_val, data.y_val),
        callbacks=[StopAtTarget()],
    )
    return reached or {"seconds": time.perf_counter() - start, "epochs": max_epochs, "reached": 0}


def prepare() -> None:
    """Import Keras (torch backend) and torch's lazily loaded modules before timing."""
    import keras  # noqa: F401
    import torch

    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
