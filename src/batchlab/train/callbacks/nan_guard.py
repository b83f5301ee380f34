"""Stop (or skip the batch) when the loss is NaN or infinite."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import torch

from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["NaNGuard"]

log = logging.getLogger(__name__)


class NaNGuard(Callback):
    """Watch every batch's loss.

    On the CPU each loss is read as it comes (a read costs well under a microsecond there), so a
    non-finite loss stops training before its gradient is applied. On an accelerator reading the loss
    every batch would make each step wait for the device, so the check stays on the device: a flag
    and the last finite loss are updated by small asynchronous kernels, and the host reads them every
    ``check_every`` batches and at the end of each epoch. A divergence is then found up to
    ``check_every - 1`` batches late (those gradients were applied; the run stops as diverged all the
    same), and the message still names the step, epoch and batch where the loss first became
    non-finite. ``skip=True`` always checks every batch, since it must drop that batch's gradient.

    Args:
        skip: ``False`` stops training at the first non-finite loss and records a message naming the
            step and the last finite loss in ``state.diverged``; ``True`` drops that step's
            gradient and counts the skips in ``state.extra["skipped_batches"]``.
        check_every: accelerators only: batches between two host reads of the device-side flag.
        on_device: keep the check on the device; ``None`` (default) does so for any loss that is not
            on the CPU.
    """

    def __init__(self, skip: bool = False, check_every: int = 64, on_device: bool | None = None) -> None:
        self.skip = skip
        self.check_every = check_every
        self.on_device = on_device
        self.last_finite: float | None = None
        self.skipped = 0
        self._watch: _DeviceWatch | None = None

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None:
        loss: torch.Tensor = logs["loss"]
        on_device = self.on_device if self.on_device is not None else loss.device.type != "cpu"
        if not on_device or self.skip:
            self._check(state, float(loss), state.step + 1, state.epoch + 1, state.batch + 1)
            return
        if self._watch is None or self._watch.device != loss.device:
            self._watch = _DeviceWatch(loss.device, self.last_finite)
        self._watch.add(loss, (state.step + 1, state.epoch + 1, state.batch + 1))
        if len(self._watch.window) >= self.check_every or state.batch + 1 >= state.batches_per_epoch:
            self._read_watch(state)

    def on_train_end(self, state: LoopState) -> None:
        if self._watch is not None and self._watch.window and not state.stop:
            self._read_watch(state)

    def _read_watch(self, state: LoopState) -> None:
        assert self._watch is not None
        bad, last = self._watch.read()
        if last is not None:
            self.last_finite = last
        if bad is not None:
            value, (step, epoch, batch) = bad
            self._check(state, value, step, epoch, batch)

    def _check(self, state: LoopState, value: float, step: int, epoch: int, batch: int) -> None:
        if math.isfinite(value):
            self.last_finite = value
            return
        if self.skip:
            self.context.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            state.extra["skipped_batches"] = self.skipped
            log.warning("skipped batch %d of epoch %d: loss is %s", batch, epoch, value)
            return
        last = "none yet" if self.last_finite is None else f"{self.last_finite:.6g}"
        message = (
            f"training diverged: the loss became {value} at step {step} (epoch {epoch}, "
            f"batch {batch}); last finite loss {last}. Lower train.optimizer.lr or set train.grad_clip"
        )
        state.diverged = message
        state.request_stop(message)

    def state_dict(self) -> dict[str, Any]:
        return {"last_finite": self.last_finite, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_finite = state["last_finite"]
        self.skipped = state["skipped"]


class _DeviceWatch:
    """Device-side record of a window of losses: the first non-finite one and the last finite one."""

    def __init__(self, device: torch.device, last_finite: float | None) -> None:
        self.device = device
        self.window: list[tuple[int, int, int]] = []  # (step, epoch, batch) of each loss since the last read
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.bad_value = torch.zeros((), dtype=torch.float64, device=device)
        nan = math.nan if last_finite is None else last_finite
        self.last = torch.full((), nan, dtype=torch.float64, device=device)

    def add(self, loss: torch.Tensor, where: tuple[int, int, int]) -> None:
        """Record one loss (no host sync: Python scalars enter the kernels as arguments)."""
        value = loss.detach().double()
        finite = torch.isfinite(value)
        clean = self.first_bad < 0
        self.last = torch.where(finite & clean, value, self.last)
        first = ~finite & clean
        self.bad_value = torch.where(first, value, self.bad_value)
        self.first_bad = torch.where(first, len(self.window), self.first_bad)
        self.window.append(where)

    def read(self) -> tuple[tuple[float, tuple[int, int, int]] | None, float | None]:
        """``((bad value, (step, epoch, batch)) or None, last finite loss or None)``; clears the window."""
        first, bad_value, last = (float(v) for v in torch.stack([self.first_bad.double(), self.bad_value, self.last]))
        bad = (bad_value, self.window[int(first)]) if first >= 0 else None
        self.window = []
        self.first_bad.fill_(-1)
        return bad, (last if math.isfinite(last) else None)
