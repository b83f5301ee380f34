"""A live progress bar per epoch (loss, accuracy, samples/s) and one table row per evaluation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["ProgressBar"]

_REFRESH_SECONDS = 0.2  # a refresh costs about 0.5 ms of CPU: 5 per second keep it under 0.3%
_HEADERS = {
    "epoch": "epoch",
    "step": "step",
    "train_loss": "train_loss",
    "train_accuracy": "train_acc",
    "val_loss": "val_loss",
    "val_accuracy": "val_acc",
    "val_mse": "val_mse",
    "val_mae": "val_mae",
    "val_r2": "val_r2",
    "val_bpc": "val_bpc",
    "val_perplexity": "val_ppl",
    "pad_fraction": "padding",
    "noise_scale": "B_simple",
    "batch_size": "batch",
    "lr": "lr",
    "seconds": "time_s",
}


class ProgressBar(Callback):
    """Shows training as it happens.

    On a terminal each epoch gets a transient bar with the running loss, accuracy and throughput,
    refreshed at most every 0.2 s. The loss and accuracy are the loop's running sums since the last
    metrics row (so the epoch's, when validating every epoch); the bar keeps no tensors of its own and
    reads them only at a refresh, its only host sync. Every evaluation
    prints one table row: epoch, step, train/validation loss and metrics, learning rate, seconds.

    The bar appears once an epoch has run for a refresh interval (0.2 s). While a live bar is on
    screen, printing a row redraws it (about 0.4 ms); runs whose epochs are shorter than that print
    several rows a second, which show the progress on their own, and never pay for the bar.

    Args:
        console: where to print (default: stderr-independent rich console on stdout).
        bar: show the live bar (it is only drawn on a terminal).
    """

    def __init__(self, console: Console | None = None, bar: bool = True) -> None:
        self.console = console or Console(highlight=False)
        self.bar = bar and self.console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._columns: list[str] | None = None
        self._epoch_start = 0.0
        self._epoch_samples = 0
        self._last_refresh = 0.0
        self._new_epoch = True

    def on_train_begin(self, state: LoopState) -> None:
        info = self.context.info
        if info.get("summary"):
            self.console.print(info["summary"], soft_wrap=True)

    def _start_bar(self) -> Progress:
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  {task.fields[rate]} samples/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            auto_refresh=False,
        )
        self._progress.start()
        return self._progress

    def on_epoch_begin(self, state: LoopState) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_samples = 0
        self._new_epoch = True  # the bar moves to this epoch at its next refresh (a redraw costs ~0.5 ms)

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None:
        self._epoch_samples += logs["size"]
        if not self.bar:
            return
        now = time.perf_counter()
        if now - self._last_refresh < _REFRESH_SECONDS:
            return
        progress = self._progress
        if progress is None:
            if now - self._epoch_start < _REFRESH_SECONDS:
                return  # short epochs: their rows are the progress
            progress = self._start_bar()
        self._last_refresh = now
        rate = self._epoch_samples / max(now - self._epoch_start, 1e-9)
        fields: dict[str, Any] = {"loss": self._running_text(logs), "rate": f"{rate:,.0f}", "epoch": state.epoch + 1}
        total, done = state.batches_per_epoch, state.batch + 1  # the batch (step) this micro-batch belongs to
        if self._task is None:
            self._task = progress.add_task("train", total=total, completed=done, **fields)
        elif self._new_epoch:  # reset() restarts the time-remaining estimate and redraws
            progress.reset(self._task, total=total, completed=done, **fields)
        else:
            progress.update(self._task, completed=done, **fields)
            progress.refresh()
        self._new_epoch = False

    def on_step_end(self, state: LoopState) -> None:
        change = state.extra.pop("batch_change", None)  # set by a batch-size schedule
        if change is not None:
            self._print(
                f"Batch size {change['previous']} -> {change['size']} at step {change['step']} "
                f"({change['samples']:,} samples): {change['reason']}"
            )

    def _running_text(self, logs: dict[str, Any]) -> str:
        """Loss (and accuracy) over the batches since the last metrics row, from the loop's running sums.

        The sums stay on the device between refreshes; reading them here is the bar's only host sync.
        """
        running: Any = self.context.components.get("running")
        if running is None or not running.count:
            return f"{float(logs['loss']):.4f}"
        text = f"{float(running.loss_sum) / running.count:.4f}"
        if logs.get("correct") is not None:
            text += f"  acc {float(running.correct) / running.count:.4f}"
        return text

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        if self._columns is None:
            self._columns = [k for k in _HEADERS if k in logs]
            self._print(" ".join(f"{_HEADERS[k]:>10}" for k in self._columns))
        self._print(" ".join(_cell(k, logs.get(k)) for k in self._columns))

    def on_train_end(self, state: LoopState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        # A divergence ends the run with an error that carries the same message: said once, by the error.
        if state.stop_reason and not state.diverged:
            self.console.print(f"Stopped: {state.stop_reason}", soft_wrap=True)
        restored = state.extra.get("restored_best_epoch")
        if restored is not None:
            self.console.print(f"Restored the weights of epoch {restored} (the best).")

    def _print(self, line: str) -> None:
        # Plain: highlighting the numbers of a row costs about 1 ms, a fifth of a short epoch's work.
        self.console.print(line, soft_wrap=True, highlight=False, markup=False)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return f"{'-':>10}"
    if key in ("epoch", "step", "batch_size"):
        return f"{int(value):>10d}"
    if key == "lr":
        return f"{value:>10.3g}"
    if key == "seconds":
        return f"{value:>10.2f}"
    if key == "noise_scale":
        return f"{value:>10.4g}"
    if key == "pad_fraction":
        return f"{value:>10.1%}"
    return f"{value:>10.4f}"
