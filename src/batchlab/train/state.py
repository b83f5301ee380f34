"""The loop's state and settings: what a callback can read, and what a checkpoint must save."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoopSettings", "LoopState"]


@dataclass(frozen=True)
class LoopSettings:
    """How long and how to train.

    Attributes:
        epochs: passes over the training batches; ``None`` means until ``max_steps``.
        max_steps: stop after this many optimizer steps; ``None`` means until ``epochs``.
        accumulate: micro-batches each batch is cut into, one forward and backward pass each, for one
            optimizer step: the batches hold the effective batch, ``accumulate`` times the micro-batch.
        grad_clip: clip the global L2 norm of the gradient to this value; ``None`` disables.
        val_every_steps: evaluate every N optimizer steps; ``None`` evaluates at each epoch end.
        val_every_samples: evaluate each time the training samples seen pass a multiple of N (with a
            batch that changes size, the same resolution throughout); ``None``: off.
        precision: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` mixed precision (see :mod:`batchlab.train.precision`).
        min_micro_batch: the smallest micro-batch (2 with batch norm).
        precise_bn: before each evaluation, recompute batch-norm statistics over this many training
            batches (see :mod:`batchlab.train.precise_bn`); 0: off.
        max_micro_batch: the largest batch one forward pass takes; a larger batch (a growing batch
            schedule) is accumulated in as many micro-batches as it needs. ``None``: no limit.
    """

    epochs: int | None = 10
    max_steps: int | None = None
    accumulate: int = 1
    grad_clip: float | None = None
    val_every_steps: int | None = None
    val_every_samples: int | None = None
    precision: str = "fp32"
    min_micro_batch: int = 1
    precise_bn: int = 0
    max_micro_batch: int | None = None

    def micro_batches(self, batch_samples: int) -> int:
        """Forward and backward passes for a batch of ``batch_samples``: ``accumulate``, or more to keep
        every micro-batch within ``max_micro_batch``.

        >>> LoopSettings(max_micro_batch=64).micro_batches(200), LoopSettings(accumulate=4).micro_batches(200)
        (4, 4)
        """
        if self.max_micro_batch is None or batch_samples <= self.max_micro_batch * self.accumulate:
            return self.accumulate
        return -(-batch_samples // self.max_micro_batch)

    def total_steps(self, steps_per_epoch: int | list[int]) -> int:
        """Optimizer steps the run will take if nothing stops it early.

        Args:
            steps_per_epoch: batches (= optimizer steps) per epoch, or the count of each epoch in turn
                when it varies (token budgets); a shorter list repeats its last count.
        """
        counts = steps_per_epoch if isinstance(steps_per_epoch, list) else [steps_per_epoch]
        by_epochs = None
        if self.epochs is not None:
            listed = min(self.epochs, len(counts))  # closed form: epochs may be huge (early stopping ends the run)
            by_epochs = sum(counts[:listed]) + (self.epochs - listed) * counts[-1]
        candidates = [s for s in (by_epochs, self.max_steps) if s is not None]
        return min(candidates)


@dataclass
class LoopState:
    """Where training is. Counters count completed units.

    Attributes:
        epoch: completed epochs (the running epoch's 0-based index).
        batch: completed batches (optimizer steps) in the running epoch.
        step: completed optimizer steps.
        samples: training samples consumed so far.
        seconds: wall seconds spent in ``fit`` so far, across resumes.
        batches_per_epoch: the batch count of the training data.
        stop: set by a callback to end training after the current batch.
        stop_reason: a sentence saying why training stopped.
        stop_decided: the stop is the run's own decision (:meth:`request_stop`), not an interrupt; only
            such a stop is saved in checkpoints.
        diverged: why the loss became non-finite, when it did (the run ends as diverged).
        interrupted: the signal that interrupted the run (``SIGINT`` / ``SIGTERM``), if one did.
        step_lr: the learning rate of the last optimizer step (the ``lr`` of its metrics row).
        history: one dict per evaluation (the rows of ``metrics.csv``).
        components: saved states of the loop's own parts (running sums, gradient scaler) by name,
            restored by ``fit`` when it starts (see :meth:`TrainingContext.components`).
        extra: free space for callbacks (saved in checkpoints when JSON-serializable).
    """

    epoch: int = 0
    batch: int = 0
    step: int = 0
    samples: int = 0
    seconds: float = 0.0
    batches_per_epoch: int = 0
    total_steps: int = 0
    stop: bool = False
    stop_reason: str | None = None
    stop_decided: bool = False
    diverged: str | None = None
    interrupted: str | None = None
    step_lr: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    components: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch (the first reason given wins).

        This is a decision of the run itself (early stopping, divergence, a target reached, pruning):
        checkpoints save it, so a resumed run ends where the uninterrupted one did.
        """
        if not self.stop_decided:
            self.stop_reason = reason
        self.stop = self.stop_decided = True

    def interrupt(self, signal_name: str) -> None:
        """Stop after the current step because of a signal (``SIGINT``, ``SIGTERM``).

        Unlike :meth:`request_stop` an interrupt is not part of the run's course: checkpoints do not
        save it, so the resumed run carries on, and a stop requested at the same step (early stopping)
        still records its reason (and is saved).
        """
        self.interrupted = signal_name
        self.stop = True
        if self.stop_reason is None:
            self.stop_reason = f"interrupted by {signal_name} at step {self.step}; checkpoint written"

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable counters and history."""
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "samples": self.samples,
            "seconds": self.seconds,
            "step_lr": self.step_lr,
            "history": self.history,
            "stop": self.stop_decided,  # an interrupt alone is not saved (see interrupt)
            "stop_reason": self.stop_reason if self.stop_decided else None,
            "diverged": self.diverged,
            "components": self.components,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("epoch", "batch", "step", "samples", "seconds", "history", "stop", "stop_reason"):
            setattr(self, key, state[key])
        self.stop_decided = bool(self.stop)
        self.diverged = state.get("diverged")
        self.step_lr = state.get("step_lr")
        self.components = dict(state.get("components") or {})
