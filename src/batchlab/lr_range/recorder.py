"""The range test as a callback of the training loop: it sets each step's rate and records the loss.

The loop (:func:`~batchlab.train.loop.fit`) does every optimizer step exactly as in training (micro-batches
of an accumulated batch weighted by their share of the step, autocast and gradient scaling, clipping,
gradients averaged over data-parallel workers); this callback only chooses the rate of each step and
reads the loss.

Loop step ``k`` (0-based) computes the loss ``L_k`` of its batch at the weights left by the ``k`` updates
before it, then applies update ``k`` at ``rates[k]``. The point recorded for ``rates[k]`` is ``L_{k+1}``:
the loss *after* the step at that rate, measured on the next batch, which that step did not train on.
``L_0`` is the loss of the initial weights. A test of ``n`` rates therefore runs ``n + 1`` loop steps
(the last update is never measured, and the weights are thrown away anyway).

Under data parallelism the loss of a step is the mean over the whole global batch (a sum over workers),
so every worker records the same curve and takes the same decision to stop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from batchlab.lr_range.curve import LossSmoother
from batchlab.train.callbacks.base import Callback
from batchlab.train.distributed import all_reduce_sum

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["RangeRecorder"]


class RangeRecorder(Callback):
    """Sets the rate of update ``k`` to ``rates[k]`` and records the smoothed loss after it.

    Args:
        rates: one rate per update, increasing.
        smooth: ``beta`` of the bias-corrected moving average.
        diverge: stop when the smoothed loss exceeds this multiple of its lowest value so far.

    Attributes:
        initial_loss: the loss of the initial weights (the first batch), once known.
        losses: the loss after the update at each rate so far (raw, one per recorded rate).
        smoothed: their smoothed values.
        diverged_at: index of the point that stopped the test, or ``None``.
    """

    def __init__(self, rates: Sequence[float], *, smooth: float, diverge: float) -> None:
        self.rates = list(rates)
        self.diverge = diverge
        self.smoother = LossSmoother(smooth)
        self.initial_loss: float | None = None
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.samples: list[int] = []
        self.diverged_at: int | None = None
        self._sum: torch.Tensor | None = None
        self._count = 0

    def on_train_begin(self, state: LoopState) -> None:
        self._set_rate(self.rates[0])

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None:
        loss: torch.Tensor = logs["loss"]
        weighted = loss.detach().double() * logs["size"]
        self._sum = weighted if self._sum is None else self._sum + weighted
        self._count += int(logs["size"])

    def on_step_end(self, state: LoopState) -> None:
        assert self._sum is not None  # a step follows at least one (micro-)batch
        totals = all_reduce_sum(torch.stack([self._sum, self._sum.new_tensor(float(self._count))]))
        loss_sum, count = (float(v) for v in totals.tolist())
        self._sum, self._count = None, 0
        loss = loss_sum / count if count else math.nan
        k = state.step - 1  # the loop step that just ended
        if k == 0:
            self.initial_loss = loss
        else:
            self.losses.append(loss)
            self.samples.append(state.samples)
            smoothed = self.smoother.add(loss)
            self.smoothed.append(smoothed)
            if self.smoother.diverged(smoothed, self.diverge):
                self.diverged_at = len(self.losses) - 1
                rate = self.rates[self.diverged_at]
                if math.isfinite(loss):
                    why = (
                        f"the smoothed loss {smoothed:.4g} exceeded {self.diverge:g} x its lowest value "
                        f"{self.smoother.best:.4g} at lr {rate:.3g}"
                    )
                else:
                    why = f"the loss became {loss} at lr {rate:.3g}"
                state.request_stop(why)
                return
        if len(self.losses) >= len(self.rates):
            state.request_stop(f"reached the last rate, {self.rates[-1]:.3g}, without diverging")
            return
        self._set_rate(self.rates[min(k + 1, len(self.rates) - 1)])

    def _set_rate(self, rate: float) -> None:
        for group in self.context.optimizer.param_groups:
            group["lr"] = rate
