"""Count tokens and padding of variable-length batches: ``tokens`` and ``pad_fraction`` in every metrics row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from batchlab.train.callbacks.base import Callback
from batchlab.train.distributed import all_reduce_sum

if TYPE_CHECKING:
    from batchlab.data.batch import Batch
    from batchlab.train.state import LoopState

__all__ = ["PaddingMeter"]


class PaddingMeter(Callback):
    """Adds ``tokens`` (valid time steps trained on so far, across workers) and ``pad_fraction``.

    ``pad_fraction`` is the share of padded steps among all steps of the batches since the previous
    row, ``1 - valid / (batch x longest)``: what length bucketing saves. A language model's windows
    have no padding, so only ``tokens`` is logged.

    Args:
        report_padding: log ``pad_fraction`` (variable-length samples).
    """

    def __init__(self, report_padding: bool = True) -> None:
        self.report_padding = report_padding
        self.tokens = 0
        self._valid = 0
        self._padded = 0

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None:
        batch: Batch | None = logs.get("batch")
        if batch is None:
            return
        self._valid += batch.tokens
        self._padded += batch.padded_tokens

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        valid, padded = all_reduce_sum(torch.tensor([self._valid, self._padded], dtype=torch.float64)).tolist()
        self.tokens += round(valid)
        self._valid = self._padded = 0
        logs["tokens"] = self.tokens
        if self.report_padding and padded:
            logs["pad_fraction"] = 1.0 - valid / padded

    def state_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "valid": self._valid, "padded": self._padded}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tokens = int(state["tokens"])
        self._valid = int(state.get("valid", 0))
        self._padded = int(state.get("padded", 0))
