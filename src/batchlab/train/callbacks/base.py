"""The extension point of the loop: a closed set of hooks with explicit arguments.

The loop calls, in this order::

    on_train_begin
      on_epoch_begin
        on_batch_end          after every (micro-)batch: logs = {"loss": 0-d tensor, "size": int}
        on_step_end           after every optimizer step
        on_evaluate           at every evaluation (epoch end, or every N steps): logs = the metrics row
        on_step_closed        after everything that belongs to a step: its metrics row, for an epoch's
                              last step the epoch's close, and any stop decision (checkpoints go here)
      on_epoch_end            (before the ``on_step_closed`` of the epoch's last step)
    on_train_end

A callback stops training with ``state.request_stop(reason)``, never by raising. A callback that keeps
state implements ``state_dict`` / ``load_state_dict`` (JSON-serializable) so checkpoints resume exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["Callback", "CallbackList", "Stateful", "TrainingContext"]


def unwrap_module(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` without its ``torch.compile`` and ``DistributedDataParallel`` wrappers (the trained module)."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        # torch.compile's wrapper, recognised by name: importing its class would import torch._dynamo.
        elif type(model).__name__ == "OptimizedModule" and isinstance(model._modules.get("_orig_mod"), torch.nn.Module):
            model = model._modules["_orig_mod"]  # type: ignore[assignment]
        else:
            return model


class TrainingContext:
    """What callbacks may touch besides the state: the model, optimizer and scheduler.

    Attributes:
        model: the ``torch.nn.Module`` being trained; once training ends, the trained module without its
            data-parallel and compile wrappers (the data-parallel one holds the process group).
        optimizer: its optimizer.
        scheduler: the learning-rate scheduler, or ``None``.
        info: run facts for display (batch size, batch count, samples, effective batch, device, ...).
        components: the loop's own stateful parts by name (``running`` sums, ``precision``), set by ``fit``.
        step_lr: the learning rate of the last optimizer step (logged in its metrics row).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.info = dict(info or {})
        self.callbacks: CallbackList | None = None
        self.components: dict[str, Stateful] = {}
        self.step_lr: float | None = None

    def components_state_dict(self) -> dict[str, Any]:
        """States of the loop's own parts (running sums, gradient scaler), for a checkpoint.

        ``fit`` restores them from ``LoopState.components`` when it starts. Under data parallelism
        reading the running sums is a collective: every rank must call this.
        """
        return {name: part.state_dict() for name, part in self.components.items()}

    @property
    def module(self) -> torch.nn.Module:
        """The model without data-parallel or ``torch.compile`` wrappers: the same state dict keys in every case."""
        return unwrap_module(self.model)

    @property
    def lr(self) -> float:
        """Learning rate of the first parameter group, for logs."""
        return float(self.optimizer.param_groups[0]["lr"])


class Stateful(Protocol):
    """A part of the loop whose state a checkpoint saves: ``state_dict`` (JSON-ready) and ``load_state_dict``."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


class Callback:
    """Base class: override the hooks you need. ``context`` is set before ``on_train_begin``."""

    context: TrainingContext

    def on_train_begin(self, state: LoopState) -> None: ...

    def on_epoch_begin(self, state: LoopState) -> None: ...

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None: ...

    def on_step_end(self, state: LoopState) -> None: ...

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None: ...

    def on_step_closed(self, state: LoopState) -> None:
        """The step is complete: its metrics row (if due), the epoch's close and any stop request are done.

        A checkpoint written here captures the whole step, so a resumed run neither repeats nor loses
        any of it. Called at most once per step; a step cut short (a non-finite loss) gets none.
        """

    def on_epoch_end(self, state: LoopState) -> None: ...

    def on_train_end(self, state: LoopState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state for checkpoints (empty for stateless callbacks)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class CallbackList(Callback):
    """Calls each hook on every callback in order.

    The hooks called at every batch and step skip the callbacks that do not define them (a call to an
    inherited no-op costs as much as a small tensor kernel, a dozen times per step).
    """

    def __init__(self, callbacks: Iterable[Callback], context: TrainingContext) -> None:
        self.callbacks = list(callbacks)
        self.context = context
        context.callbacks = self
        for callback in self.callbacks:
            callback.context = context
        self._batch_end = _defining(self.callbacks, "on_batch_end")
        self._step_end = _defining(self.callbacks, "on_step_end")
        self._step_closed = _defining(self.callbacks, "on_step_closed")

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def on_train_begin(self, state: LoopState) -> None:
        for callback in self.callbacks:
            callback.on_train_begin(state)

    def on_epoch_begin(self, state: LoopState) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(state)

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None:
        for callback in self._batch_end:
            callback.on_batch_end(state, logs)

    def on_step_end(self, state: LoopState) -> None:
        for callback in self._step_end:
            callback.on_step_end(state)

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_evaluate(state, logs)

    def on_step_closed(self, state: LoopState) -> None:
        for callback in self._step_closed:
            callback.on_step_closed(state)

    def on_epoch_end(self, state: LoopState) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(state)

    def on_train_end(self, state: LoopState) -> None:
        for callback in self.callbacks:
            callback.on_train_end(state)

    def state_dict(self) -> dict[str, Any]:
        return {key: c.state_dict() for key, c in self.keyed() if c.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, callback in self.keyed():
            if key in state:
                callback.load_state_dict(state[key])

    def keyed(self) -> list[tuple[str, Callback]]:
        """Callbacks keyed by class name (and occurrence), stable when unrelated callbacks change."""
        seen: dict[str, int] = {}
        keyed = []
        for callback in self.callbacks:
            name = type(callback).__name__
            seen[name] = seen.get(name, 0) + 1
            keyed.append((name if seen[name] == 1 else f"{name}#{seen[name]}", callback))
        return keyed


def _defining(callbacks: list[Callback], hook: str) -> list[Callback]:
    """The callbacks, in order, whose ``hook`` is not :class:`Callback`'s no-op (set on the class or the
    instance)."""
    inherited = getattr(Callback, hook)
    return [c for c in callbacks if hook in getattr(c, "__dict__", {}) or getattr(type(c), hook) is not inherited]
