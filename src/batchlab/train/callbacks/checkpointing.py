"""Write resumable checkpoints every N steps, every N epochs and/or every T seconds, keeping the last K."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from batchlab.atomic import write_text
from batchlab.train.callbacks.base import Callback
from batchlab.train.callbacks.tracker import MetricTracker
from batchlab.train.checkpoint import find_checkpoints, save_checkpoint, save_weights
from batchlab.train.distributed import all_gather_object

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["Checkpointing"]

log = logging.getLogger(__name__)


class Checkpointing(Callback):
    """Periodic checkpoints in ``directory`` (see :mod:`batchlab.train.checkpoint` for the format).

    Args:
        directory: the run's ``checkpoints/`` folder.
        every_steps: optimizer steps between checkpoints (``None``: off).
        every_epochs: epochs between checkpoints (``None``: off).
        every_seconds: wall seconds between checkpoints, checked after each step (``None``: off).
        keep: how many of the newest checkpoints to keep.
        best: a tracker of the monitored metric; when given, the weights of the best evaluation so far
            are kept in ``best.safetensors`` with ``best.json`` (metric, value, epoch, step) beside them,
            written with each checkpoint (before it) and when training ends.
        write: whether this process writes files. Under data parallelism every rank runs the callback
            (saving gathers each rank's random state) and only rank 0 writes.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        every_steps: int | None = None,
        every_epochs: int | None = 1,
        every_seconds: float | None = None,
        keep: int = 3,
        best: MetricTracker | None = None,
        write: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.best = best
        self.write = write
        self.every_steps = every_steps
        self.every_epochs = every_epochs
        self.every_seconds = every_seconds
        self.keep = keep
        self._last_time = time.monotonic()
        self._last_step = -1
        self._due = False
        self.saved: list[Path] = []
        self._pending_best: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None

    def on_train_begin(self, state: LoopState) -> None:
        self._last_step = state.step  # a resumed run's step is the checkpoint it came from
        self._due = False

    def on_step_end(self, state: LoopState) -> None:
        due_steps = self.every_steps is not None and state.step % self.every_steps == 0
        due_time = self.every_seconds is not None and time.monotonic() - self._last_time >= self.every_seconds
        self._due = self._due or due_steps or due_time

    def on_step_closed(self, state: LoopState) -> None:
        # Written once the step is complete: a checkpoint holds the step's metrics row and the stop
        # decision taken at it, so a resumed run neither loses that row nor trains past the stop.
        if self._due:
            self._due = False
            self.save(state)

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        if self.best is None or self.best.monitor not in logs:
            return
        value = float(logs[self.best.monitor])
        if self.best.improves(value):
            self.best.record(value, logs)
            if not self.write:
                return
            # Held in memory and written with the next checkpoint or at the end: a checkpoint never
            # refers to best weights that are not on disk, and an epoch pays a copy, not an fsync.
            weights = {k: v.detach().clone() for k, v in self.context.module.state_dict().items()}
            record = {"monitor": self.best.monitor, "value": value, "epoch": logs.get("epoch"), "step": state.step}
            self._pending_best = (weights, record)

    def on_train_end(self, state: LoopState) -> None:
        self._write_best()

    def _write_best(self) -> None:
        """Write the best weights and ``best.json`` if a better evaluation came since the last write."""
        if self._pending_best is None:
            return
        weights, record = self._pending_best
        save_weights(self.directory / "best.safetensors", weights)
        write_text(self.directory / "best.json", json.dumps(record) + "\n")
        self._pending_best = None

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best.state_dict()} if self.best is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.best is not None and "best" in state:
            self.best.load_state_dict(state["best"])

    def on_epoch_end(self, state: LoopState) -> None:
        if self.every_epochs is not None and state.batch == 0 and state.epoch % self.every_epochs == 0:
            self.save(state)

    def save(self, state: LoopState) -> Path | None:
        """Write a checkpoint of the current state now (once per step at most)."""
        if state.step == self._last_step:
            return None
        context = self.context
        components = context.components_state_dict()  # a collective under DDP (running sums)
        rng_per_rank = all_gather_object(torch.get_rng_state())
        if not self.write:
            self._last_step = state.step
            self._last_time = time.monotonic()
            return None
        self._write_best()
        callbacks = context.callbacks
        extra: dict[str, torch.Tensor] = {}
        if callbacks is not None:
            for key, callback in callbacks.keyed():
                tensors = getattr(callback, "tensors", None)
                if tensors is not None:
                    extra.update({f"{key}/{name}": t for name, t in tensors().items()})
        path = save_checkpoint(
            self.directory,
            model=context.module,
            optimizer=context.optimizer,
            scheduler=context.scheduler,
            state={
                **state.state_dict(),
                "callbacks": callbacks.state_dict() if callbacks is not None else {},
                "components": components,
                "extra": {k: v for k, v in state.extra.items() if _is_json(v)},
                "world_size": len(rng_per_rank),
            },
            extra_tensors=extra,
            rng_per_rank=rng_per_rank if len(rng_per_rank) > 1 else None,
        )
        self._last_step = state.step
        self._last_time = time.monotonic()
        self.saved.append(path)
        for old in find_checkpoints(self.directory)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        log.debug("checkpoint written: %s", path)
        return path


def _is_json(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict))
