"""Stop (or skip the batch) when the loss is NaN or infinite."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["NaNGuard"]

log = logging.getLogger(__name__)


class NaNGuard(Callback):
    """Watch every batch's loss.

    Args:
        skip: ``False`` stops training at the first non-finite loss and records a message naming the
            step and the last finite loss in ``state.extra["diverged"]``; ``True`` drops that batch's
            gradient and counts the skips in ``state.extra["skipped_batches"]``.
    """

    def __init__(self, skip: bool = False) -> None:
        self.skip = skip
        self.last_finite: float | None = None
        self.skipped = 0

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None:
        value = float(logs["loss"])
        if math.isfinite(value):
            self.last_finite = value
            return
        if self.skip:
            self.context.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            state.extra["skipped_batches"] = self.skipped
            log.warning("skipped batch %d of epoch %d: loss is %s", state.batch, state.epoch + 1, value)
            return
        last = "none yet" if self.last_finite is None else f"{self.last_finite:.6g}"
        message = (
            f"training diverged: the loss became {value} at step {state.step + 1} (epoch {state.epoch + 1}, "
            f"batch {state.batch}); last finite loss {last}. Lower train.optimizer.lr or set train.grad_clip"
        )
        state.extra["diverged"] = message
        state.request_stop(message)

    def state_dict(self) -> dict[str, Any]:
        return {"last_finite": self.last_finite, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_finite = state["last_finite"]
        self.skipped = state["skipped"]
