"""A run's batch-size schedule (``train.batch_schedule``) built from the config and checked against the data.

:func:`check_batch_schedule` refuses what a schedule cannot do before anything is written;
:func:`schedule_parts` wraps the training batches in :class:`~batchlab.data.scheduled.ScheduledBatches`
and returns the :class:`~batchlab.train.batch_schedule.BatchScheduler` that drives them (with the
noise-scale callback an adaptive schedule reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

from batchlab.config import BatchScheduleConfig, Config, parse_span
from batchlab.data.scheduled import BatchSizer, ScheduledBatches
from batchlab.errors import ConfigError
from batchlab.train.batch_schedule import BatchScheduler, LRClock, SchedulePolicy
from batchlab.train.callbacks import Callback
from batchlab.train.callbacks.noise_scale import GradientNoiseScale
from batchlab.train.distributed import DistributedInfo, broadcast_object
from batchlab.train.objective import Objective
from batchlab.train.optim import lr_multiplier

__all__ = ["ScheduleParts", "check_batch_schedule", "schedule_parts", "schedule_start"]


def schedule_start(config: Config) -> int | None:
    """The first size of the config's batch schedule in samples, ``None`` without a schedule."""
    schedule = config.train.batch_schedule
    if schedule.kind == "none":
        return None
    size = schedule.start if schedule.start is not None else config.train.batch_size
    return size if isinstance(size, int) else None


def check_batch_schedule(config: Config, train_samples: int, *, streamed: bool) -> None:
    """Refuse a schedule that cannot run on this data, naming the fields.

    Raises:
        ConfigError: a token budget or ``full`` without ``start``, accumulation (use ``max_micro_batch``),
            streamed data, or sizes larger than the training split.
    """
    schedule, train = config.train.batch_schedule, config.train
    if schedule.kind == "none":
        return
    kind = f"train.batch_schedule.kind: {schedule.kind}"
    if schedule_start(config) is None:
        raise ConfigError(
            f"{kind} needs a first batch size in samples; train.batch_size is {train.batch_size!r}: set "
            "train.batch_schedule.start (e.g. 32)"
        )
    if train.accumulate > 1:
        raise ConfigError(
            f"train.accumulate: {train.accumulate} cannot be combined with {kind} (its sizes are samples per "
            "optimizer step); bound the forward pass with train.batch_schedule.max_micro_batch instead"
        )
    if streamed:
        raise ConfigError(f"{kind} needs in-memory data; data.stream reads fixed-size batches from disk")
    start = schedule_start(config) or 1
    if start > train_samples:
        field = "train.batch_schedule.start" if schedule.start is not None else "train.batch_size"
        raise ConfigError(f"{field}: {start} is larger than the training split ({train_samples} samples)")
    if schedule.end is not None and schedule.end > train_samples:
        raise ConfigError(
            f"train.batch_schedule.end: {schedule.end} is larger than the training split ({train_samples} samples)"
        )
    if schedule.end is not None and schedule.end < start:
        raise ConfigError(
            f"train.batch_schedule.end: {schedule.end} is smaller than the first size ({start}); a schedule only "
            "grows the batch"
        )
    if schedule.kind == "ramp" and schedule.over is None and train.epochs is None and train.max_steps is None:
        raise ConfigError("train.batch_schedule.over: give the ramp's length, e.g. 2epochs")


@dataclass
class ScheduleParts:
    """What a schedule adds to a run.

    Attributes:
        train: the training batches, cut to the schedule's sizes (this rank's slice under data parallelism).
        callbacks: the noise-scale callback (adaptive, when not configured already) and the scheduler.
        policy: the resolved schedule.
    """

    train: ScheduledBatches
    callbacks: list[Callback]
    policy: SchedulePolicy


def resolve_policy(config: Config, epoch_samples: int) -> SchedulePolicy:
    """The config's schedule with its defaults filled in from the data (``epoch_samples`` per epoch)."""
    schedule: BatchScheduleConfig = config.train.batch_schedule
    start = schedule_start(config) or 1
    end = schedule.end if schedule.end is not None else epoch_samples
    length, unit = _ramp_length(config, epoch_samples) if schedule.kind == "ramp" else (0.0, "samples")
    return SchedulePolicy(
        kind=schedule.kind,
        start=start,
        end=max(start, end),
        ramp_length=length,
        ramp_unit=unit,
        shape=schedule.shape,
        milestones=tuple(schedule.milestones),
        factor=schedule.factor,
        every_steps=schedule.every_steps,
        warmup_measurements=schedule.warmup_measurements,
        noise_multiple=schedule.noise_multiple,
        multiple_of=schedule.multiple_of,
        epoch_samples=epoch_samples,
    )


def _ramp_length(config: Config, epoch_samples: int) -> tuple[float, str]:
    """The ramp's ``over``, or by default the first half of the run (in samples, or in steps)."""
    over = config.train.batch_schedule.over
    if over is not None:
        return parse_span(over)
    if config.train.epochs is not None:
        return config.train.epochs * epoch_samples / 2, "samples"
    return (config.train.max_steps or 2) / 2, "steps"


def schedule_parts(
    config: Config,
    whole: Any,
    *,
    objective: Objective,
    min_batch: int,
    workers: DistributedInfo,
    noise: Callback | None,
) -> ScheduleParts:
    """Wrap ``whole`` (the training batches at the first size) in the config's schedule.

    Args:
        config: the run's config (``train.batch_schedule.kind`` is not ``none``).
        whole: the training mini-batches (all ranks' samples), built at the schedule's first size.
        objective: the task's loss (an adaptive schedule measures the noise scale with it).
        min_batch: the smallest batch allowed (2 with batch normalization).
        workers: this process among data-parallel workers.
        noise: the noise-scale callback the config already asks for, if any (an adaptive schedule reads it).
    """
    epoch_samples = sum(len(rows) for rows in whole.plan(0))
    policy = resolve_policy(config, epoch_samples)
    sizer = BatchSizer(policy.start)
    train = ScheduledBatches(
        whole,
        sizer,
        min_batch=min_batch,
        drop_last=config.train.drop_last,
        rank=workers.rank if workers.enabled else 0,
        world_size=workers.world_size if workers.enabled else 1,
    )
    callbacks: list[Callback] = []
    if policy.kind == "adaptive" and not _is_micro_batch_noise(noise):
        noise = _noise_callback(config, whole, objective, policy)
        callbacks.append(noise)
    clock = _lr_clock(config, policy)
    agree = _agree if workers.enabled else None
    reads = noise if policy.kind == "adaptive" and _is_micro_batch_noise(noise) else None
    callbacks.append(BatchScheduler(policy, sizer, clock, noise=reads, agree=agree))
    return ScheduleParts(train, callbacks, policy)


def _agree(size: int) -> int:
    return int(broadcast_object(size))


def _is_micro_batch_noise(noise: Callback | None) -> TypeGuard[GradientNoiseScale]:
    return isinstance(noise, GradientNoiseScale)


def _noise_callback(config: Config, whole: Any, objective: Objective, policy: SchedulePolicy) -> Callback:
    settings = config.train.noise_scale
    return GradientNoiseScale(
        whole,
        objective.loss,
        every_steps=policy.every_steps,
        micro_batches=settings.micro_batches,
        micro_batch_size=settings.micro_batch_size or policy.start,
        ema=settings.ema,
        seed=config.train.seed,
    )


def _lr_clock(config: Config, policy: SchedulePolicy) -> LRClock:
    """The configured learning-rate schedule on a clock of ``start``-sample steps, over the whole run."""
    steps_per_epoch = max(1, math.ceil(policy.epoch_samples / policy.start))
    train = config.train
    horizon = [s for s in (train.epochs and train.epochs * steps_per_epoch, train.max_steps) if s]
    total = max(1, min(horizon)) if horizon else steps_per_epoch
    cfg = train.schedule

    def multiplier(step: int) -> float:
        return lr_multiplier(step, total_steps=total, steps_per_epoch=steps_per_epoch, cfg=cfg)

    return LRClock(multiplier, policy.start, train.lr_scaling.rule)
