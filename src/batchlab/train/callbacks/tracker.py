"""The best value of a monitored metric so far: the shared base of early stopping and best-checkpointing."""

from __future__ import annotations

import math
from typing import Any, Literal

from batchlab.errors import ConfigError
from batchlab.train.callbacks.base import Callback

__all__ = ["MetricTracker", "resolve_mode"]

_LOWER_IS_BETTER = ("loss", "mse", "mae", "error", "rmse", "bpc", "perplexity")


def resolve_mode(monitor: str, mode: Literal["auto", "min", "max"] | str) -> Literal["min", "max"]:
    """``auto`` means ``min`` for losses and errors (``val_loss``, ``val_mae``, a language model's
    ``val_bpc`` and ``val_perplexity``) and ``max`` otherwise.

    >>> resolve_mode("val_loss", "auto"), resolve_mode("val_accuracy", "auto"), resolve_mode("val_r2", "min")
    ('min', 'max', 'min')
    >>> resolve_mode("val_bpc", "auto"), resolve_mode("val_perplexity", "auto")
    ('min', 'min')
    """
    if mode in ("min", "max"):
        return mode
    return "min" if monitor.rsplit("_", 1)[-1] in _LOWER_IS_BETTER else "max"


class MetricTracker(Callback):
    """Tracks the best value of ``monitor`` across evaluations.

    Args:
        monitor: a metric name from the logs, e.g. ``val_loss``.
        mode: ``min``, ``max`` or ``auto`` (see :func:`resolve_mode`).
        min_delta: an improvement must beat the best by more than this (in the metric's units).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0) -> None:
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_step: int | None = None

    def read(self, logs: dict[str, Any]) -> float:
        """The monitored value in ``logs``; a missing metric is a config error listing those that exist."""
        if self.monitor not in logs:
            names = ", ".join(k for k in logs if k not in ("epoch", "step", "samples", "seconds"))
            raise ConfigError(
                f"train.early_stopping.monitor: metric {self.monitor!r} is not logged; available: {names}"
            )
        return float(logs[self.monitor])

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta`` (NaN never does)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def record(self, value: float, logs: dict[str, Any]) -> None:
        self.best = value
        self.best_epoch = logs.get("epoch")
        self.best_step = logs.get("step")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_step": self.best_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.best_step = state["best_step"]
