"""Batch-size schedules: ramps, step rules and growth driven by the gradient noise scale.

A schedule sets the size of the next batch after every optimizer step (never inside one), through the
:class:`~batchlab.data.scheduled.BatchSizer` that the training batches read. Three policies:

- **ramp**: from ``start`` to ``end`` over a length of training (samples, steps or epochs), by equal
  steps (``linear``) or equal ratios (``geometric``), then ``end``; the way large language models are
  trained. A pure function of how far training is.
- **step**: ``start x factor^k`` after the ``k``-th milestone epoch (Smith et al. 2017, "Don't decay the
  learning rate, increase the batch size": multiply the batch where a step schedule would divide the rate).
- **adaptive**: every ``every_steps`` steps the gradient noise scale ``B_simple`` (its moving average,
  :class:`~batchlab.train.callbacks.noise_scale.GradientNoiseScale`) is read, and the batch grows towards
  ``noise_multiple x B_simple``: by at most ``factor`` per change and only for 10% or more, never
  shrinking, within ``[start, end]``.
  In the spirit of AdaScale and Pollux: a batch below the noise scale wastes steps, one far above it
  wastes samples (McCandlish et al. 2018).

The learning rate follows ``train.lr_scaling`` from the size it was set for: the optimizer's rates are
those of ``start`` and every step multiplies them by the rule's factor ``(B / start)^p`` (``p`` = 1 for
linear, 1/2 for sqrt, 0 for none). A learning-rate schedule (warmup, cosine, step decay) then runs on a
clock of samples, counted in steps of ``start`` samples, so its shape over the run does not depend on how
the batch grows.

Every change is recorded (step, samples, epoch, new size, reason), shown by the progress output and
saved in checkpoints and ``run.json``; the metrics rows get a ``batch_size`` column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchlab.train.callbacks.base import Callback

if TYPE_CHECKING:
    from batchlab.data.scheduled import BatchSizer
    from batchlab.train.callbacks.noise_scale import GradientNoiseScale
    from batchlab.train.state import LoopState

__all__ = ["BatchScheduler", "LRClock", "SchedulePolicy", "lr_scale_factor", "ramp_size", "step_size"]

_EXPONENTS = {"none": 0.0, "linear": 1.0, "sqrt": 0.5}
_MIN_GROWTH = 1.1  # an adaptive schedule changes the size only for a growth of 10% or more


def ramp_size(progress: float, *, start: int, end: int, shape: str = "geometric") -> float:
    """The ramp's batch size at ``progress`` in [0, 1] of its length (unrounded).

    >>> ramp_size(0.5, start=32, end=512, shape="linear"), ramp_size(0.5, start=32, end=512)
    (272.0, 128.0)
    """
    t = min(max(progress, 0.0), 1.0)
    if shape == "linear":
        return start + (end - start) * t
    return float(start * (end / start) ** t)


def step_size(completed_epochs: int, *, start: int, milestones: list[int], factor: float) -> float:
    """The step rule's batch size once ``completed_epochs`` epochs are done (unrounded).

    >>> step_size(0, start=32, milestones=[2, 4], factor=4), step_size(4, start=32, milestones=[2, 4], factor=4)
    (32.0, 512.0)
    """
    return start * factor ** sum(1 for m in milestones if m <= completed_epochs)


def lr_scale_factor(size: int, start: int, rule: str) -> float:
    """The learning rate at ``size`` as a multiple of the rate at ``start`` under a scaling rule.

    >>> lr_scale_factor(128, 32, "linear"), lr_scale_factor(128, 32, "sqrt"), lr_scale_factor(128, 32, "none")
    (4.0, 2.0, 1.0)
    """
    return float((size / start) ** _EXPONENTS[rule])


@dataclass(frozen=True)
class SchedulePolicy:
    """What a schedule does, resolved against the data.

    Attributes:
        kind: ``ramp``, ``step`` or ``adaptive``.
        start: first size in samples.
        end: ramp: final size; step and adaptive: the largest size (the training split at most).
        ramp_length: ramp: its length in ``ramp_unit``.
        ramp_unit: ``samples``, ``steps`` or ``epochs``.
        shape: ramp: ``linear`` or ``geometric``.
        milestones: step: epochs after which the size is multiplied by ``factor``.
        factor: step: the multiplier; adaptive: the largest growth of one change.
        every_steps: adaptive: steps between decisions.
        warmup_measurements: adaptive: noise measurements before the first change.
        noise_multiple: adaptive: the size aimed at, in multiples of ``B_simple``.
        multiple_of: sizes are rounded down to a multiple of this (``start`` and ``end`` excepted).
        epoch_samples: samples per epoch (converts epochs to samples).
    """

    kind: str
    start: int
    end: int
    ramp_length: float = 0.0
    ramp_unit: str = "samples"
    shape: str = "geometric"
    milestones: tuple[int, ...] = ()
    factor: float = 2.0
    every_steps: int = 20
    warmup_measurements: int = 3
    noise_multiple: float = 1.0
    multiple_of: int = 1
    epoch_samples: int = 1

    def rounded(self, size: float) -> int:
        """``size`` rounded down to ``multiple_of``, within ``[start, end]``."""
        whole = math.floor(size + 1e-9)
        if self.multiple_of > 1:
            whole -= whole % self.multiple_of
        return max(self.start, min(self.end, whole))

    def ramp_progress(self, state: LoopState) -> float:
        if self.ramp_unit == "steps":
            done = float(state.step)
        elif self.ramp_unit == "epochs":
            done = state.samples / self.epoch_samples
        else:
            done = float(state.samples)
        return done / self.ramp_length

    def describe(self) -> str:
        """One line for the run summary."""
        if self.kind == "ramp":
            return f"ramp {self.start} -> {self.end} ({self.shape}) over {self.ramp_length:g} {self.ramp_unit}"
        if self.kind == "step":
            at = ", ".join(str(m) for m in self.milestones)
            return f"step: {self.start} x {self.factor:g} after epochs {at} (at most {self.end})"
        return (
            f"adaptive: from {self.start} towards {self.noise_multiple:g} x B_simple (at most {self.end}, "
            f"x{self.factor:g} per change, every {self.every_steps} steps)"
        )


@dataclass(frozen=True)
class LRClock:
    """The learning-rate schedule on a clock of samples (see the module docstring).

    Attributes:
        multiplier: the configured schedule as a function of the optimizer step at ``start`` samples per step.
        start: samples per step of that clock.
        rule: ``train.lr_scaling.rule``.
    """

    multiplier: Any
    start: int
    rule: str

    def rate_factor(self, samples: int, size: int) -> float:
        """The multiple of the base rates for the next step: schedule at ``samples``, scaled to ``size``."""
        step = samples // self.start
        return float(self.multiplier(step)) * lr_scale_factor(size, self.start, self.rule)


class BatchScheduler(Callback):
    """Sets the size of every next batch and the learning rate that goes with it.

    Args:
        policy: what the schedule does.
        sizer: the size and epoch position the training batches read.
        clock: how the learning rate follows the size and the samples seen.
        noise: the noise-scale callback an adaptive schedule reads (it must come before this one).
        agree: under data parallelism, a function giving every rank rank 0's value (sizes must agree).

    Attributes:
        changes: one dict per change: ``step``, ``samples``, ``epoch``, ``size``, ``previous``, ``reason``.
    """

    def __init__(
        self,
        policy: SchedulePolicy,
        sizer: BatchSizer,
        clock: LRClock,
        *,
        noise: GradientNoiseScale | None = None,
        agree: Any = None,
    ) -> None:
        if policy.kind == "adaptive" and noise is None:
            raise ValueError("an adaptive batch schedule needs the noise-scale callback")
        self.policy = policy
        self.sizer = sizer
        self.clock = clock
        self.noise = noise
        self.agree = agree
        self.changes: list[dict[str, Any]] = []
        self._base_lrs: list[float] | None = None
        self._shown = policy.start

    # ---------------------------------------------------------------------------------------- hooks

    def on_train_begin(self, state: LoopState) -> None:
        scheduler = self.context.scheduler
        groups = self.context.optimizer.param_groups
        self._base_lrs = list(scheduler.base_lrs) if scheduler is not None else [float(g["lr"]) for g in groups]
        if not self.changes:
            self.sizer.size = self.policy.start
            self._record(state, self.policy.start, None, "start")
        self._apply_lr(state)

    def on_epoch_begin(self, state: LoopState) -> None:
        if self.policy.kind == "step":  # state.epoch epochs are complete
            size = step_size(
                state.epoch, start=self.policy.start, milestones=list(self.policy.milestones), factor=self.policy.factor
            )
            self._set(state, self.policy.rounded(size), f"after epoch {state.epoch}")
            self._apply_lr(state)

    def on_step_end(self, state: LoopState) -> None:
        if self.policy.kind == "ramp":
            progress = self.policy.ramp_progress(state)
            size = ramp_size(progress, start=self.policy.start, end=self.policy.end, shape=self.policy.shape)
            self._set(state, self.policy.rounded(size), f"ramp {min(progress, 1.0):.0%}")
        elif self.policy.kind == "adaptive" and state.step % self.policy.every_steps == 0:
            self._adapt(state)
        self._apply_lr(state)

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        logs["batch_size"] = self.sizer.size  # the size in effect (an epoch's last batch may be a remainder)

    def on_train_end(self, state: LoopState) -> None:
        state.extra["batch_changes"] = self.changes

    # ------------------------------------------------------------------------------------- decisions

    def _adapt(self, state: LoopState) -> None:
        """Grow towards ``noise_multiple x B_simple``: at most ``factor`` at once, never below the current size."""
        noise, policy, current = self.noise, self.policy, self.sizer.size
        measured = (
            noise.ema.noise_scale if noise is not None and noise.ema.count >= policy.warmup_measurements else None
        )
        size = current
        if measured is not None and math.isfinite(measured) and measured > 0:
            aim = min(policy.noise_multiple * measured, current * policy.factor)
            if aim >= _MIN_GROWTH * current or aim >= policy.end:  # not for every wiggle of the estimate
                size = max(current, policy.rounded(aim))
        if self.agree is not None:
            size = int(self.agree(size))  # every rank takes rank 0's decision
        if measured is not None:
            self._set(state, size, f"B_simple {measured:,.0f}")

    def _set(self, state: LoopState, size: int, reason: str) -> None:
        if size == self.sizer.size:
            return
        self._record(state, size, self.sizer.size, reason)
        self.sizer.size = size
        shown = self._shown
        if self.policy.kind != "ramp" or size >= 2 * shown or size == self.policy.end:
            # A smooth ramp changes at every step: the progress output gets one line per doubling.
            state.extra["batch_change"] = {**self.changes[-1], "previous": shown}  # the progress output clears it
            self._shown = size

    def _record(self, state: LoopState, size: int, previous: int | None, reason: str) -> None:
        self.changes.append(
            {
                "step": state.step,
                "samples": state.samples,
                "epoch": state.epoch,
                "size": size,
                "previous": previous,
                "reason": reason,
            }
        )

    def _apply_lr(self, state: LoopState) -> None:
        if self._base_lrs is None:
            return
        factor = self.clock.rate_factor(state.samples, self.sizer.size)
        for group, base in zip(self.context.optimizer.param_groups, self._base_lrs, strict=True):
            group["lr"] = base * factor

    # ------------------------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {"sizer": self.sizer.state_dict(), "changes": self.changes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sizer.load_state_dict(state["sizer"])
        self.changes = [dict(c) for c in state.get("changes", [])]
