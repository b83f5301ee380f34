"""batchlab through its public entry, ``batchlab.fit(config)``, with the default callbacks on.

On: the progress bar (drawn to a terminal console that writes to ``/dev/null``, so every refresh is
rendered), validation on the held-out 10% after every epoch, the metrics CSV (rewritten and fsynced
after every epoch), the NaN guard and early stopping. Off, as for Lightning: checkpoints
(``train.checkpoint.every_epochs: null``) and the learning-curve plot, which is drawn after training.
The timed span runs from the end of the warm-up epochs to the end of the last epoch, so it includes
the validation passes, logging and progress output of the timed epochs.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from benchmarks.workload import (
    DIGITS_BATCH,
    DIGITS_HIDDEN,
    DIGITS_LR,
    HIDDEN,
    LR,
    MOMENTUM,
    THREADS,
    Arrays,
)


def _config(
    data: Arrays, hidden: tuple[int, ...], batch_size: int, epochs: int, optimizer: dict[str, Any], threads: int | None
) -> dict[str, Any]:
    return {
        "name": "bench",
        "data": {
            "source": str(data.train_file),
            "split": {"val_source": str(data.val_file), "test": 0.0},
            "scale": "none",  # the files are standardized already, like every other system's input
        },
        "model": {"name": "mlp", "hidden": list(hidden), "activation": "relu"},
        "train": {
            "batch_size": batch_size,
            "epochs": epochs,
            "optimizer": optimizer,
            "checkpoint": {"every_epochs": None},
            "threads": threads,
            "device": "cpu",
            "seed": 0,
        },
    }


def _console() -> Any:
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), force_terminal=True, width=120)


def throughput(data: Arrays, batch_size: int, warmup: int, timed: int, **options: Any) -> dict[str, float]:
    import batchlab
    from batchlab.train.callbacks import Callback

    ends: list[float] = []

    class EpochTimer(Callback):
        def on_epoch_end(self, state: Any) -> None:
            ends.append(time.perf_counter())

    config = _config(data, HIDDEN, batch_size, warmup + timed, {"name": "sgd", "lr": LR, "momentum": MOMENTUM}, THREADS)
    config["train"].update(options)
    with tempfile.TemporaryDirectory() as run_dir:
        batchlab.fit(config, run_dir=run_dir, callbacks=[EpochTimer()], console=_console(), plots=False)
    seconds = ends[-1] - ends[warmup - 1]
    return {"samples_per_s": timed * len(data.x_train) / seconds, "seconds": seconds}


def time_to_accuracy(data: Arrays, target: float, max_epochs: int, **options: Any) -> dict[str, float]:
    """Seconds of ``batchlab.fit`` (set-up, validation and output included) until validation accuracy
    reaches ``target``. batchlab runs with its defaults, its thread rule included (``train.threads``
    unset: 1 thread for this MLP, whose batch-32 step is too small for a second); ``options`` set
    ``train`` keys, e.g. ``threads=2`` for the suite's fixed count."""
    import batchlab
    from batchlab.train.callbacks import Callback

    reached: dict[str, float] = {}

    class StopAtTarget(Callback):
        def on_evaluate(self, state: Any, logs: dict[str, Any]) -> None:
            if logs["val_accuracy"] >= target and not reached:
                reached.update(seconds=time.perf_counter() - start, epochs=logs["epoch"], reached=1)
                state.request_stop(f"val_accuracy reached {target}")

    config = _config(data, DIGITS_HIDDEN, DIGITS_BATCH, max_epochs, {"name": "adam", "lr": DIGITS_LR}, None)
    config["train"].update(options)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        batchlab.fit(config, run_dir=run_dir, callbacks=[StopAtTarget()], console=_console(), plots=False)
        end = time.perf_counter()
    return reached or {"seconds": end - start, "epochs": max_epochs, "reached": 0}


def prepare() -> None:
    """Import batchlab, the modules ``batchlab.fit`` loads on first use, and torch's lazily loaded modules
    (the first optimizer imports torch._dynamo): imports stay out of the timed span, for every system."""
    import torch

    import batchlab.api
    import batchlab.data.text
    import batchlab.experiment.inference
    import batchlab.experiment.training  # noqa: F401

    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
