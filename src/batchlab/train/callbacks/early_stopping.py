"""Stop when the monitored metric has not improved for ``patience`` evaluations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from batchlab.plural import counted
from batchlab.train.callbacks.tracker import MetricTracker

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["EarlyStopping"]


class EarlyStopping(MetricTracker):
    """Early stopping with optional restoring of the best weights.

    Args:
        monitor: metric to watch, e.g. ``val_loss`` or ``val_accuracy``.
        mode: ``min``, ``max`` or ``auto``.
        patience: evaluations (epochs by default) without improvement before stopping.
        min_delta: smallest change that counts as an improvement, in the metric's units.
        restore_best: load the weights of the best evaluation when training ends.

    After training, :attr:`stopped_epoch` is the epoch at which it stopped (``None`` if it did not) and
    :attr:`best_epoch` the epoch whose weights were kept.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best = restore_best
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.restored = False

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        value = self.read(logs)
        if self.improves(value):
            self.record(value, logs)
            self.wait = 0
            if self.restore_best:
                self.best_weights = {k: v.detach().clone() for k, v in self.context.module.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = logs.get("epoch")
            state.request_stop(
                f"early stopping: {self.monitor} did not improve by more than {self.min_delta:g} for "
                f"{counted(self.patience, 'evaluation')}; best {self.best:.6g} at epoch {self.best_epoch}"
            )

    def on_train_end(self, state: LoopState) -> None:
        if self.restore_best and self.best_weights is not None and self.wait > 0:
            self.context.module.load_state_dict(self.best_weights)
            self.restored = True
            state.extra["restored_best_epoch"] = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Best weights, for checkpoints (so that a resumed run can still restore them)."""
        return dict(self.best_weights or {})

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.best_weights = dict(tensors) or None
