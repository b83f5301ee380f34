"""``fit``: the training loop, readable top to bottom.

Everything optional (progress, logging, early stopping, checkpoints, NaN guard) is a callback; the loop
knows none of them by name. Running sums of loss and correct predictions stay tensors on the device and
are read once per evaluation, so no step waits for the host.

One batch is one optimizer step. With gradient accumulation the batch holds the effective batch and is
cut into ``accumulate`` micro-batches, one forward and backward pass each; every micro-batch's mean loss
is weighted by its share of the step's samples (across all data-parallel ranks), so the update is the
one the whole batch would give, a partial last batch included.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import torch

from batchlab.data.batch import Batch
from batchlab.data.scheduled import ScheduledBatches
from batchlab.data.sharding import ShardedBatches
from batchlab.plural import counted
from batchlab.train.backward import backward
from batchlab.train.callbacks.base import Callback, CallbackList, TrainingContext, unwrap_module
from batchlab.train.distributed import agree_to_stop, all_reduce_sum, is_distributed, rank
from batchlab.train.evaluation import evaluate_batches, evaluate_outputs
from batchlab.train.fused_step import OptimizerStep
from batchlab.train.objective import Objective
from batchlab.train.precise_bn import recompute_batch_norm
from batchlab.train.precision import Precision
from batchlab.train.state import LoopSettings, LoopState

__all__ = ["Batches", "evaluate_outputs", "fit", "validation_metrics"]


class Batches(Protocol):
    """What ``fit`` iterates: mini-batches of any kind, or a data-parallel shard of them."""

    def __len__(self) -> int: ...

    def batches_in_epoch(self, epoch: int) -> int: ...

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]: ...


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
        model: any module mapping ``batch.inputs`` (``x``, or ``x, lengths``) to outputs ``(batch, K)``
            (``(batch, time, V)`` for a language model).
        train: training mini-batches, one per optimizer step; their device is the model's device.
        objective: the loss and metrics of the task.
        optimizer: built over ``model.parameters()``.
        scheduler: stepped once per optimizer step.
        val: validation batches, evaluated in eval mode without gradients.
        settings: epochs, max_steps, accumulation, clipping, evaluation interval, precision.
        callbacks: extension points, called in order.
        state: a state to continue from (resume); a fresh one by default.
        info: run facts passed to callbacks for display.
    """
    settings = settings or LoopSettings()
    state = state or LoopState()
    state.batches_per_epoch = len(train)
    state.total_steps = settings.total_steps(planned_steps(train, settings))
    context = TrainingContext(model, optimizer, scheduler, info)
    hooks = CallbackList(callbacks, context)
    running = RunningSums(objective, _device_of(model))
    precision = Precision(settings.precision, _device_of(model))  # autocast and grad scaling, or nothing
    context.components = {"running": running, "precision": precision}
    for name, part in context.components.items():  # a resumed run's sums and gradient scale
        part.load_state_dict(state.components.pop(name, None))
    step = OptimizerStep(optimizer)  # optimizer.step() + zero_grad(set_to_none=True), minus torch.optim's overhead
    world = getattr(train, "world_size", 1) if isinstance(train, ShardedBatches | ScheduledBatches) else 1
    distributed = is_distributed()  # asked once: stopping together takes a collective at every step
    started = time.perf_counter() - state.seconds

    context.step_lr = state.step_lr  # a resumed run's rate of its last step
    hooks.on_train_begin(state)
    closed = state.step  # the last step whose on_step_closed ran (a resumed step was closed when saved)
    if _row_pending(state, settings, train):  # resumed from a checkpoint written before its step's row
        _evaluate(model, train, val, objective, running, state, context, hooks, started, settings)
    while not _finished(state, settings) or _epoch_unclosed(state, train):
        hooks.on_epoch_begin(state)
        model.train()
        for batch in train.epoch(state.epoch, start_batch=state.batch):
            batch_samples = len(batch)
            step_samples = train.global_size(state.epoch, state.batch) if world > 1 else batch_samples  # type: ignore[attr-defined]
            for micro in batch.split(settings.micro_batches(batch_samples), settings.min_micro_batch):
                size = len(micro)
                with precision.autocast():
                    outputs = model(*micro.inputs)
                    loss = objective.loss(outputs, micro.y) if size else outputs.sum() * 0.0
                share = world * size / step_samples  # of the step's mean loss, across ranks
                backward(precision.scale(loss * share if share != 1 else loss))
                correct = objective.correct(outputs.detach(), micro.y) if objective.is_classification else None
                detached = loss.detach()
                running.add(detached, correct, size)
                hooks.on_batch_end(state, {"loss": detached, "correct": correct, "size": size, "batch": micro})
            state.samples += step_samples  # across all workers
            state.batch += 1
            if agree_to_stop(state) if distributed else state.stop:
                break  # e.g. a non-finite loss (on any worker): its gradient is not applied
            context.step_lr = state.step_lr = context.lr  # the rate this step uses, for its metrics row
            precision.step(step, model.parameters(), settings.grad_clip)
            if scheduler is not None:
                scheduler.step()
            state.step += 1
            hooks.on_step_end(state)
            if _validation_due(settings, state, step_samples):
                _evaluate(model, train, val, objective, running, state, context, hooks, started, settings)
            if state.stop or (settings.max_steps is not None and state.step >= settings.max_steps):
                break
            # A batch schedule may change the size between steps: the count is asked after every step.
            if state.batch < train.batches_in_epoch(state.epoch):  # the last step closes with the epoch, below
                hooks.on_step_closed(state)
                closed = state.step
        epoch_done = state.batch == train.batches_in_epoch(state.epoch)
        if epoch_done:
            state.epoch += 1
            state.batch = 0
        # A row closes a whole epoch, or the last steps before the end; a stop mid-epoch (interrupt,
        # divergence) leaves no half-epoch row behind.
        every_epoch = settings.val_every_steps is None and settings.val_every_samples is None
        if (every_epoch and epoch_done) or _ends_unevaluated(state, settings):
            _evaluate(model, train, val, objective, running, state, context, hooks, started, settings)
        hooks.on_epoch_end(state)
        if state.step != closed:  # after the step's row, the epoch's close and any stop decision
            hooks.on_step_closed(state)
            closed = state.step
    if state.stop_reason is None:
        state.stop_reason = _finish_reason(state, settings)
    hooks.on_train_end(state)
    context.model = unwrap_module(model)  # callbacks outlive the run; a data-parallel wrapper must not
    return state


def planned_steps(train: Batches, settings: LoopSettings) -> list[int]:
    """Steps of each epoch up to the run's end (one count when it does not change between epochs)."""
    first = train.batches_in_epoch(0)
    if settings.epochs is None or train.batches_in_epoch(1) == first:
        return [first]
    counts, total = [], 0
    for epoch in range(settings.epochs):
        counts.append(train.batches_in_epoch(epoch))
        total += counts[-1]
        if settings.max_steps is not None and total >= settings.max_steps:
            break
    return counts


def _validation_due(settings: LoopSettings, state: LoopState, step_samples: int) -> bool:
    """A metrics row is due after this step: every ``val_every_steps`` steps, or each time the samples
    seen pass a multiple of ``val_every_samples`` (the same resolution at any batch size)."""
    if settings.val_every_steps and state.step % settings.val_every_steps == 0:
        return True
    every = settings.val_every_samples
    return bool(every) and state.samples // every > (state.samples - step_samples) // every  # type: ignore[operator]


def _finished(state: LoopState, settings: LoopSettings) -> bool:
    if state.stop:
        return True
    if settings.max_steps is not None and state.step >= settings.max_steps:
        return True
    return settings.epochs is not None and state.epoch >= settings.epochs


def _ends_unevaluated(state: LoopState, settings: LoopSettings) -> bool:
    """Training ends here with steps since the last metrics row (max_steps, or the end of the last epoch
    between two multiples of ``val_every_steps``): they get a row too. A stop requested by a callback
    (early stopping, an interrupt, divergence) does not: its row, if any, is already written."""
    if state.stop or not _finished(state, settings):
        return False
    last = state.history[-1]["step"] if state.history else 0
    return state.step > last


def _row_pending(state: LoopState, settings: LoopSettings, train: Batches) -> bool:
    """A resumed state at a step due a metrics row that its checkpoint lacks.

    Checkpoints are written when a step closes (``on_step_closed``), after its row, so this happens
    only with checkpoints of earlier versions, which were written before the validation due at their
    step. The running sums, callbacks and weights are those of that moment, so the row comes out as
    it would have. The row of an epoch's end is left to the loop, which closes the epoch (its row
    included) as it always does.
    """
    last = state.history[-1]["step"] if state.history else 0
    if state.step <= last or state.stop:
        return False
    if settings.val_every_steps is not None and state.step % settings.val_every_steps == 0:
        return True
    return not _epoch_unclosed(state, train) and _ends_unevaluated(state, settings)


def _epoch_unclosed(state: LoopState, train: Batches) -> bool:
    """Every batch of the epoch was taken but the epoch was not closed: a checkpoint of its last step
    written by an earlier version (checkpoints are now written after the epoch closes)."""
    return state.batch > 0 and state.batch == train.batches_in_epoch(state.epoch)


def _finish_reason(state: LoopState, settings: LoopSettings) -> str:
    if settings.max_steps is not None and state.step >= settings.max_steps:
        return f"reached max_steps={settings.max_steps}"
    return f"completed {counted(state.epoch, 'epoch', 'epochs')}"


def _evaluate(
    model: torch.nn.Module,
    train: Batches,
    val: Batches | None,
    objective: Objective,
    running: RunningSums,
    state: LoopState,
    context: TrainingContext,
    hooks: CallbackList,
    started: float,
    settings: LoopSettings,
) -> None:
    """Close a metrics row: training sums since the last row, then validation, then the hook.

    With ``settings.precise_bn``, batch-norm statistics are first recomputed on the first training
    batches of the current epoch (see :mod:`batchlab.train.precise_bn`).
    """
    if settings.precise_bn:
        recompute_batch_norm(
            model,
            train.preview(state.epoch) if isinstance(train, ScheduledBatches) else train.epoch(state.epoch),
            settings.precise_bn,
            micro_batches=settings.accumulate,
            min_micro=settings.min_micro_batch,
        )
    logs: dict[str, Any] = {"epoch": state.epoch if state.batch == 0 else state.epoch + 1, "step": state.step}
    logs["samples"] = state.samples
    logs.update(running.read_and_reset())
    if val is not None:
        logs.update(validation_metrics(model, val, objective))
        model.train()
    logs["lr"] = context.step_lr if context.step_lr is not None else context.lr
    state.seconds = time.perf_counter() - started
    logs["seconds"] = round(state.seconds, 4)
    state.history.append(logs)
    hooks.on_evaluate(state, logs)


def validation_metrics(model: torch.nn.Module, val: Batches, objective: Objective) -> dict[str, float]:
    """``val_loss`` and ``val_accuracy`` / ``val_mse``, ``val_mae``, ``val_r2`` / ``val_bpc`` or
    ``val_perplexity`` (see :mod:`batchlab.train.evaluation`), exact under data parallelism."""
    metrics = evaluate_batches(model, val.epoch(0), objective)
    return {f"val_{name}": float(value) for name, value in metrics.items() if name != "samples"}


class RunningSums:
    """Training loss and correct-prediction sums since the last metrics row.

    On an accelerator they stay on the device (one in-place kernel each per batch, read once per
    row: no host sync per step). On the CPU, where reading a tensor waits for nothing, they are Python
    numbers: two additions instead of two kernel launches (about 5 µs a step).
    """

    def __init__(self, objective: Objective, device: torch.device) -> None:
        self.objective = objective
        self.on_host = device.type == "cpu"
        self.loss_sum: float | torch.Tensor = 0.0
        self.correct: int | torch.Tensor = 0
        if not self.on_host:
            self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.count = 0

    def add(self, loss: torch.Tensor, correct: torch.Tensor | None, size: int) -> None:
        if self.on_host:
            self.loss_sum += float(loss) * size  # summed in float64
            if correct is not None:
                self.correct += int(correct)
        else:
            self.loss_sum.add_(loss, alpha=size)  # type: ignore[union-attr]  # one kernel, in float64
            if correct is not None:
                self.correct.add_(correct)  # type: ignore[union-attr]
        self.count += size

    def totals(self) -> tuple[float, int, int]:
        """Loss sum, correct count and sample count, added over all ranks (one host read)."""
        if not is_distributed():
            return float(self.loss_sum), int(self.correct), self.count
        if isinstance(self.loss_sum, torch.Tensor) and isinstance(self.correct, torch.Tensor):  # packed on the device
            packed = torch.stack([self.loss_sum, self.correct.double(), self.loss_sum.new_tensor(float(self.count))])
        else:
            packed = torch.tensor([self.loss_sum, self.correct, self.count], dtype=torch.float64)
        loss_sum, correct, count = all_reduce_sum(packed).tolist()
        return loss_sum, round(correct), round(count)

    def state_dict(self) -> dict[str, float | int]:
        """The totals, for a checkpoint between two metrics rows (rank 0 keeps them on resume)."""
        loss_sum, correct, count = self.totals()
        return {"loss_sum": loss_sum, "correct": correct, "count": count}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state and rank() == 0:
            self._set(float(state["loss_sum"]), int(state["correct"]))
            self.count = int(state["count"])

    def read_and_reset(self) -> dict[str, float]:
        loss_sum, correct, count = self.totals()
        self._set(0.0, 0)
        self.count = 0
        if not count:
            return {}
        logs = {"train_loss": loss_sum / count}
        if self.objective.is_classification:
            logs["train_accuracy"] = correct / count
        return logs

    def _set(self, loss_sum: float, correct: int) -> None:
        if isinstance(self.loss_sum, torch.Tensor) and isinstance(self.correct, torch.Tensor):
            self.loss_sum.fill_(loss_sum)
            self.correct.fill_(correct)
        else:
            self.loss_sum, self.correct = loss_sum, correct


def _device_of(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
