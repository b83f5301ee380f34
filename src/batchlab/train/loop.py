"""``fit``: the training loop, readable top to bottom.

Everything optional (progress, logging, early stopping, checkpoints, NaN guard) is a callback; the loop
knows none of them by name. Running sums of loss and correct predictions stay tensors on the device and
are read once per evaluation, so no step waits for the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import torch

from batchlab.data.streaming import StreamBatches
from batchlab.train.callbacks.base import Callback, CallbackList, TrainingContext
from batchlab.train.distributed import agree_to_stop, all_reduce_sum, is_distributed, rank, reduced_validation_metrics
from batchlab.train.fused_step import OptimizerStep
from batchlab.train.objective import Objective
from batchlab.train.precision import Precision
from batchlab.train.state import LoopSettings, LoopState

__all__ = ["Batches", "evaluate_outputs", "fit", "validation_metrics"]


class Batches(Protocol):
    """What ``fit`` iterates: :class:`MiniBatches`, its data-parallel shard, or anything alike."""

    def __len__(self) -> int: ...

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


def fit(
    model: torch.nn.Module,
    train: Batches,
    *,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    val: Batches | None = None,
    settings: LoopSettings | None = None,
    callbacks: Iterable[Callback] = (),
    state: LoopState | None = None,
    info: dict[str, Any] | None = None,
) -> LoopState:
    """Train ``model`` on mini-batches and return the final loop state (its ``history`` holds the rows).

    Args:
        model: any module mapping ``(batch, *input_shape)`` to ``(batch, outputs)``.
        train: training mini-batches; their device is the model's device.
        objective: the loss and metrics of the task.
        optimizer: built over ``model.parameters()``.
        scheduler: stepped once per optimizer step.
        val: validation batches, evaluated in eval mode without gradients.
        settings: epochs, max_steps, accumulation, clipping, evaluation interval.
        callbacks: extension points, called in order.
        state: a state to continue from (resume); a fresh one by default.
        info: run facts passed to callbacks for display.
    """
    settings = settings or LoopSettings()
    state = state or LoopState()
    state.batches_per_epoch = len(train)
    state.total_steps = settings.total_steps(len(train))
    context = TrainingContext(model, optimizer, scheduler, info)
    hooks = CallbackList(callbacks, context)
    running = _RunningSums(objective, _device_of(model))
    running.load_state_dict(state.extra.pop("running", None))
    context.running = running
    step = OptimizerStep(optimizer)  # optimizer.step() + zero_grad(set_to_none=True), minus torch.optim's overhead
    precision = Precision(settings.precision, _device_of(model))  # autocast and grad scaling, or nothing
    if precision.scaler is not None and state.extra.get("scaler"):
        precision.scaler.load_state_dict(state.extra.pop("scaler"))  # resumed float16 run
    context.precision = precision
    # A data-parallel shard weighs uneven last batches and knows the global batch of each step.
    shard_weight, global_size = getattr(train, "loss_weight", None), getattr(train, "global_size", None)
    started = time.perf_counter() - state.seconds

    hooks.on_train_begin(state)
    while not _finished(state, settings):
        hooks.on_epoch_begin(state)
        model.train()
        for xb, yb in train.epoch(state.epoch, start_batch=state.batch):
            size = len(yb)
            with precision.autocast():
                outputs = model(xb)
                loss = objective.loss(outputs, yb) if size else outputs.sum() * 0.0
            _backward(precision.scale(loss), settings.accumulate, shard_weight, state.batch, size)
            correct = objective.correct(outputs.detach(), yb) if objective.is_classification else None
            loss = loss.detach()
            running.add(loss, correct, size)
            state.samples += global_size(state.batch) if global_size else size  # across all workers
            state.batch += 1
            hooks.on_batch_end(state, {"loss": loss, "correct": correct, "size": size})
            if agree_to_stop(state):
                break  # e.g. a non-finite loss (on any worker): its gradient is not applied
            if state.batch % settings.accumulate == 0 or state.batch == len(train):
                _optimizer_step(model, step, scheduler, settings.grad_clip, precision)
                state.step += 1
                hooks.on_step_end(state)
                if settings.val_every_steps and state.step % settings.val_every_steps == 0:
                    _evaluate(model, val, objective, running, state, context, hooks, started)
            if state.stop or (settings.max_steps is not None and state.step >= settings.max_steps):
                break
        epoch_done = state.batch == len(train)
        if epoch_done:
            state.epoch += 1
            state.batch = 0
        # A row closes a whole epoch, or the last steps before max_steps; a stop mid-epoch (interrupt,
        # divergence) leaves no half-epoch row behind.
        at_limit = settings.max_steps is not None and state.step >= settings.max_steps
        if settings.val_every_steps is None and (epoch_done or at_limit):
            _evaluate(model, val, objective, running, state, context, hooks, started)
        hooks.on_epoch_end(state)
    if state.stop_reason is None:
        state.stop_reason = _finish_reason(state, settings)
    hooks.on_train_end(state)
    return state


def _finished(state: LoopState, settings: LoopSettings) -> bool:
    if state.stop:
        return True
    if settings.max_steps is not None and state.step >= settings.max_steps:
        return True
    return settings.epochs is not None and state.epoch >= settings.epochs


def _finish_reason(state: LoopState, settings: LoopSettings) -> str:
    if settings.max_steps is not None and state.step >= settings.max_steps:
        return f"reached max_steps={settings.max_steps}"
    return f"completed {state.epoch} epochs"


def _backward(
    loss: torch.Tensor, accumulate: int, shard_weight: Callable[[int, int], float] | None, index: int, size: int
) -> None:
    """Backpropagate the batch's share of the step's mean loss."""
    if shard_weight is not None:
        loss = loss * shard_weight(index, size)
    if accumulate > 1:
        loss = loss / accumulate
    loss.backward()  # type: ignore[no-untyped-call]


def _optimizer_step(
    model: torch.nn.Module,
    step: OptimizerStep,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    grad_clip: float | None,
    precision: Precision,
) -> None:
    precision.step(step, model.parameters(), grad_clip)
    if scheduler is not None:
        scheduler.step()


def _evaluate(
    model: torch.nn.Module,
    val: Batches | None,
    objective: Objective,
    running: _RunningSums,
    state: LoopState,
    context: TrainingContext,
    hooks: CallbackList,
    started: float,
) -> None:
    """Close a metrics row: training sums since the last row, then validation, then the hook."""
    logs: dict[str, Any] = {"epoch": state.epoch if state.batch == 0 else state.epoch + 1, "step": state.step}
    logs["samples"] = state.samples
    logs.update(running.read_and_reset())
    if val is not None:
        logs.update(validation_metrics(model, val, objective))
        model.train()
    logs["lr"] = context.lr
    state.seconds = time.perf_counter() - started
    logs["seconds"] = round(state.seconds, 4)
    state.history.append(logs)
    hooks.on_evaluate(state, logs)


@torch.no_grad()
def evaluate_outputs(
    model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model outputs and targets over all batches, in eval mode: ``(samples, outputs)``, ``(samples,)``."""
    model.eval()
    outputs, targets = [], []
    for xb, yb in batches:
        outputs.append(model(xb))
        targets.append(yb)
    return torch.cat(outputs), torch.cat(targets)


def validation_metrics(model: torch.nn.Module, val: Batches, objective: Objective) -> dict[str, float]:
    """``val_loss`` and ``val_accuracy``, or ``val_loss``, ``val_mse``, ``val_mae``, ``val_r2``.

    Under data parallelism each rank evaluates its shard and the sums are added across ranks. Batches
    streamed from disk are reduced to sums batch by batch, so memory does not grow with the split.
    """
    if isinstance(val, StreamBatches) and not is_distributed():
        return _summed_validation_metrics(model, val, objective)
    outputs, targets = evaluate_outputs(model, val.epoch(0))
    if is_distributed():
        return reduced_validation_metrics(outputs, targets, objective)
    logs = {"val_loss": float(objective.loss(outputs, targets))}
    if objective.is_classification:
        logs["val_accuracy"] = float(objective.correct(outputs, targets)) / len(targets)
    else:
        for name, value in objective.metrics(outputs, targets).items():
            logs[f"val_{name}"] = float(value)
    return logs


@torch.no_grad()
def _summed_validation_metrics(model: torch.nn.Module, val: Batches, objective: Objective) -> dict[str, float]:
    """:func:`validation_metrics` from per-batch sums (float64, on the device, read once)."""
    model.eval()
    sums = torch.zeros(6, dtype=torch.float64, device=_device_of(model))  # loss, correct | e^2, |e|, y, y^2
    count = 0
    for xb, yb in val.epoch(0):
        outputs = model(xb)
        sums[0] += objective.loss(outputs, yb).double() * len(yb)
        count += len(yb)
        if objective.is_classification:
            sums[1] += objective.correct(outputs, yb)
            continue
        target = objective.unscale(yb).double()
        error = objective.predict(outputs).double() - target
        sums[2:] += torch.stack([error.square().sum(), error.abs().sum(), target.sum(), target.square().sum()])
    loss, correct, squared, absolute, total, squares = sums.tolist()
    logs = {"val_loss": loss / count}
    if objective.is_classification:
        return {**logs, "val_accuracy": correct / count}
    spread = squares - total * total / count
    r2 = (1.0 - squared / spread if spread > 0 else float(squared == 0)) if count > 1 else float("nan")
    return {**logs, "val_mse": squared / count, "val_mae": absolute / count, "val_r2": r2}


class _RunningSums:
    """Training loss and correct-prediction sums since the last metrics row, kept on the device."""

    def __init__(self, objective: Objective, device: torch.device) -> None:
        self.objective = objective
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.count = 0

    def add(self, loss: torch.Tensor, correct: torch.Tensor | None, size: int) -> None:
        self.loss_sum.add_(loss, alpha=size)  # one kernel, summed in float64
        if correct is not None:
            self.correct.add_(correct)
        self.count += size

    def totals(self) -> tuple[float, int, int]:
        """Loss sum, correct count and sample count, added over all ranks (one host read)."""
        if not is_distributed():
            return float(self.loss_sum), int(self.correct), self.count
        packed = torch.stack([self.loss_sum, self.correct.double(), self.loss_sum.new_tensor(float(self.count))])
        loss_sum, correct, count = all_reduce_sum(packed).tolist()
        return loss_sum, round(correct), round(count)

    def state_dict(self) -> dict[str, float | int]:
        """The totals, for a checkpoint between two metrics rows (rank 0 keeps them on resume)."""
        loss_sum, correct, count = self.totals()
        return {"loss_sum": loss_sum, "correct": correct, "count": count}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state and rank() == 0:
            self.loss_sum.fill_(state["loss_sum"])
            self.correct.fill_(state["correct"])
            self.count = int(state["count"])

    def read_and_reset(self) -> dict[str, float]:
        loss_sum, correct, count = self.totals()
        self.loss_sum.zero_()
        self.correct.zero_()
        self.count = 0
        if not count:
            return {}
        logs = {"train_loss": loss_sum / count}
        if self.objective.is_classification:
            logs["train_accuracy"] = correct / count
        return logs


def _device_of(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
