"""The run builder: from a validated config (and optionally a custom module) to every part of a training run.

:func:`build_run` is the one place where a config becomes data, batches, a model, an objective, an
optimizer, a schedule, the loop's settings and the training callbacks. ``batchlab train``, every cell of
a batch-size study, noise-scale runs, max-batch probes and tuning trials all build their runs here, so a
config means the same thing everywhere. It writes nothing: the run directory belongs to
:func:`~batchlab.experiment.training.train_run`.

Everything a user can get wrong (data, batch size, model for the data, monitored metric) is checked
here, before any file is written.

Example:
    >>> from batchlab.config import make_config
    >>> parts = build_run(make_config({"data": {"source": "iris"}, "train": {"batch_size": 16}}))
    >>> len(parts.train), parts.settings.accumulate, parts.objective.loss_name
    (7, 1, 'cross_entropy')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from batchlab.config import Config, token_budget
from batchlab.data.pipeline import PreparedData, prepare_data
from batchlab.data.prepared import SequenceSplit, TokenStream
from batchlab.data.sharding import ShardedBatches
from batchlab.data.stream.prepare import StreamedSplit
from batchlab.errors import ConfigError
from batchlab.experiment.batch_schedule import check_batch_schedule, schedule_parts, schedule_start
from batchlab.experiment.components import (
    check_batch_size,
    effective_batch_size,
    eval_batches,
    resolve_device,
    seed_everything,
    train_batches,
)
from batchlab.models import build_model
from batchlab.models.masked_norm import MaskedBatchNorm2d
from batchlab.models.size import check_model_fits
from batchlab.train.callbacks import Callback, EarlyStopping, NaNGuard
from batchlab.train.callbacks.padding import PaddingMeter
from batchlab.train.distributed import DistributedInfo, per_worker_batch
from batchlab.train.loop import Batches, planned_steps
from batchlab.train.lr_scaling import scaled_lr
from batchlab.train.objective import Objective, make_objective
from batchlab.train.optim import build_optimizer, build_scheduler
from batchlab.train.state import LoopSettings
from batchlab.train.threads import set_intra_op_threads

__all__ = ["RunParts", "build_run", "has_batchnorm", "loop_settings", "lr_for_batch", "objective_for", "run_lr"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunParts:
    """The parts of one training run, built from its config.

    Attributes:
        config: the validated config.
        data: the prepared splits and the preprocessor fitted on the training split.
        objective: loss and metrics of the task.
        module: the network on its device (what is saved and evaluated).
        model: what the loop calls: ``module``, wrapped for data parallelism and compiled when asked.
        train: the training batches (this rank's shard under data parallelism), one per optimizer step.
        val: the validation batches, or ``None`` without a validation split.
        optimizer: over ``model``'s parameters, at the (scaled) learning rate.
        scheduler: the learning-rate schedule, stepped once per optimizer step.
        settings: the loop's settings (epochs, steps, accumulation, clipping, precision, ...).
        callbacks: the training callbacks that need no run directory (NaN guard, early stopping,
            noise scale, padding meter).
        device: where the model trains.
        workers: this process among the data-parallel workers.
        lr: the learning rate after ``train.lr_scaling``.
        info: run facts for ``run.json`` and the summary printed at the start.
        eval_transform: the batch transform evaluation applies (audio features), or ``None``.
    """

    config: Config
    data: PreparedData
    objective: Objective
    module: torch.nn.Module
    model: torch.nn.Module
    train: Batches
    val: Batches | None
    optimizer: torch.optim.Optimizer
    scheduler: Any
    settings: LoopSettings
    callbacks: tuple[Callback, ...]
    device: torch.device
    workers: DistributedInfo
    lr: float
    info: dict[str, Any]
    eval_transform: Any = None

    def eval_batches(self, split: Any, *, ordered: bool = False) -> Batches:
        """Unsharded evaluation batches of ``split`` on the run's device (the test split, new data)."""
        return eval_batches(split, self.data.input_spec, self.device, ordered=ordered, transform=self.eval_transform)

    @property
    def early_stopping(self) -> EarlyStopping | None:
        """The early-stopping callback, if the config enables it."""
        return next((c for c in self.callbacks if isinstance(c, EarlyStopping)), None)


def build_run(
    config: Config,
    *,
    model: torch.nn.Module | None = None,
    data: PreparedData | None = None,
    workers: DistributedInfo | None = None,
) -> RunParts:
    """Build every part of a run from ``config``.

    Args:
        config: the validated config.
        model: a module to train instead of the config's model. It maps ``batch.inputs`` (``x``, or
            ``x, lengths`` for padded sequences) to ``(batch, outputs)`` (see
            :attr:`PreparedData.num_outputs`), or ``(batch, time, vocab)`` for a language model.
        data: already prepared data of ``config.data`` (a study prepares it once for all its cells).
        workers: this process among data-parallel workers (default: one process).

    Raises:
        ConfigError: a mistake in the config or in how it fits the data (before anything is written).
        DataError: the data cannot be loaded or prepared.
    """
    workers = workers or DistributedInfo()
    if config.train.log.tensorboard:
        from batchlab.train.callbacks.tensorboard import require_tensorboard

        require_tensorboard()
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = resolve_device(config.train.device, workers)
    data = data if data is not None else prepare_data(config.data)
    _check_data(config, data, workers)
    objective = objective_for(config, data)

    seed_everything(config.train.seed)
    custom_model = type(model).__name__ if model is not None else None
    if model is None:
        _check_positions(config, data)
        check_model_fits(
            config.model,
            data.input_spec,
            objective.num_outputs,
            task=data.task,
            optimizer=config.train.optimizer.name,
            device=device,
        )
        model = build_model(config.model, data.input_spec, objective.num_outputs, task=data.task)
    module = model.to(device)
    if not config.train.threads and device.type == "cpu":  # see batchlab.train.threads for the rule
        set_intra_op_threads(parameters=_trainable(module), batch_size=_forward_samples(config, data, workers))
    min_batch = 2 if has_batchnorm(module) else 1
    _check_batchnorm(config, min_batch, workers, custom_model)
    _check_token_budget_norm(config, data, min_batch, workers, custom_model)
    wrapped = _data_parallel(module, config, workers, device)
    if config.train.compile:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]  # (DDP included: torch splits at its buckets)

    train_transform, eval_transform = _sequence_transforms(config, data, device)
    # Under DDP each worker normalizes its share of a global batch: a last batch too small to give every
    # worker 2 samples is left out, as one process leaves out a last batch of one.
    last = min_batch * workers.world_size if workers.enabled and min_batch > 1 else min_batch
    start = schedule_start(config)  # a batch schedule's batches are planned at its first size
    batches_config = config if start is None else _with_batch_size(config, start)
    whole = train_batches(batches_config, data, device, min_batch=last, transform=train_transform)
    val_whole = None
    if data.val is not None and len(data.val):
        val_whole = eval_batches(data.val, data.input_spec, device, transform=eval_transform)
    train: Batches = whole
    val: Batches | None = val_whole
    if workers.enabled:
        train = ShardedBatches(whole, workers.rank, workers.world_size)  # type: ignore[arg-type]
        val = ShardedBatches(val_whole, workers.rank, workers.world_size) if val_whole is not None else None  # type: ignore[arg-type]
    callbacks = _training_callbacks(config, whole, objective, workers, data)
    if start is not None:
        noise = next((c for c in callbacks if type(c).__name__ == "GradientNoiseScale"), None)
        scheduled = schedule_parts(config, whole, objective=objective, min_batch=last, workers=workers, noise=noise)
        train = scheduled.train
        callbacks += scheduled.callbacks

    _warn_ghost_of_a_token_budget(config, whole, workers, custom_model)
    settings = loop_settings(config, min_batch)
    total_steps = settings.total_steps(planned_steps(train, settings))
    lr = run_lr(batches_config, data, whole)
    optimizer = build_optimizer(wrapped.parameters(), config.train.optimizer.model_copy(update={"lr": lr}))
    scheduler = build_scheduler(optimizer, config.train.schedule, total_steps=total_steps, steps_per_epoch=len(train))
    _check_monitor(config, objective, has_val=val is not None)
    info = _run_info(config, data, objective, module, whole, settings, total_steps, device, custom_model, lr, workers)
    info["threads"] = torch.get_num_threads()  # a resumed run takes the same count (float rounding depends on it)
    if start is not None:
        info["batch_schedule"] = scheduled.policy.describe()
        info["summary"] += (
            f"\nBatch schedule: {scheduled.policy.describe()}; lr follows {config.train.lr_scaling.rule} scaling"
        )
    return RunParts(
        config=config,
        data=data,
        objective=objective,
        module=module,
        model=wrapped,
        train=train,
        val=val,
        optimizer=optimizer,
        scheduler=scheduler,
        settings=settings,
        callbacks=tuple(callbacks),
        device=device,
        workers=workers,
        lr=lr,
        info=info,
        eval_transform=eval_transform,
    )


def loop_settings(config: Config, min_batch: int = 1) -> LoopSettings:
    """The loop's settings from ``config.train`` (the only place they are read from the config)."""
    train = config.train
    return LoopSettings(
        epochs=train.epochs,
        max_steps=train.max_steps,
        accumulate=train.accumulate,
        grad_clip=train.grad_clip,
        val_every_steps=train.val_every_steps,
        val_every_samples=train.val_every_samples,
        precision=train.precision,
        min_micro_batch=min_batch,
        precise_bn=train.precise_bn,
        max_micro_batch=train.batch_schedule.max_micro_batch,
    )


def _with_batch_size(config: Config, size: int) -> Config:
    """``config`` with ``train.batch_size`` set to ``size`` (the first size of a batch schedule)."""
    return config.model_copy(update={"train": config.train.model_copy(update={"batch_size": size})})


def objective_for(config: Config, data: PreparedData) -> Objective:
    """The task's loss and metrics; regression targets are un-standardized with training statistics."""
    pre: Any = data.preprocessor
    mean = getattr(pre, "target_mean_", None)
    std = getattr(pre, "target_std_", None)
    return make_objective(
        data.task,  # type: ignore[arg-type]
        data.num_outputs,
        config.train.loss,
        label_smoothing=config.train.label_smoothing,
        target_mean=float(mean) if mean is not None else 0.0,
        target_std=float(std) if std is not None else 1.0,
        token_unit="char" if config.data.tokenizer.kind == "char" else "token",
    )


def run_lr(config: Config, data: PreparedData, batches: Batches) -> float:
    """``optimizer.lr`` scaled by ``train.lr_scaling`` from its base batch to this run's effective batch.

    The batch is counted in the unit of ``train.batch_size``: samples, or tokens for a token budget
    (then ``lr_scaling.base_batch_size`` is in tokens too).
    """
    budget = token_budget(effective_batch_size(config))
    return lr_for_batch(config, budget if budget is not None else int(getattr(batches, "batch_size", 1)))


def lr_for_batch(config: Config, effective_batch: int) -> float:
    """``optimizer.lr`` scaled by ``train.lr_scaling`` from ``base_batch_size`` to ``effective_batch``.

    >>> from batchlab.config import make_config
    >>> lr_for_batch(make_config({"train": {"lr_scaling": {"rule": "linear", "base_batch_size": 32}}}), 128)
    0.2
    """
    scaling = config.train.lr_scaling
    base = scaling.base_batch_size
    if scaling.rule == "none" or base is None:
        return config.train.optimizer.lr
    return scaled_lr(config.train.optimizer.lr, batch_size=effective_batch, base_batch_size=base, rule=scaling.rule)


def has_batchnorm(model: torch.nn.Module) -> bool:
    """Whether ``model`` holds a batch-normalization layer (its training statistics need 2+ samples)."""
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm | MaskedBatchNorm2d) for m in model.modules())


# --------------------------------------------------------------------------------------------- checks


def _check_data(config: Config, data: PreparedData, workers: DistributedInfo) -> None:
    """The config's batch size, augmentation and sequence options must fit the data."""
    spec = data.input_spec
    image_steps = [s.name for s in config.data.augment if s.name in ("hflip", "crop", "rotate", "jitter")]
    audio_steps = [s.name for s in config.data.augment if s.name not in image_steps]
    if image_steps and spec.kind != "image":
        raise ConfigError(
            f"data.augment: {image_steps[0]} applies to images, but this data is {_kind_phrase(spec.kind)}"
        )
    if audio_steps and spec.kind != "frames":
        raise ConfigError(
            f"data.augment: {audio_steps[0]} applies to audio, but this data is {_kind_phrase(spec.kind)}"
        )
    if token_budget(config.train.batch_size) is not None and spec.kind != "tokens":
        raise ConfigError(
            f"train.batch_size: a token budget ({config.train.batch_size!r}) applies to text; "
            f"this data is {_kind_phrase(spec.kind)}: give a number of samples"
        )
    if isinstance(config.train.batch_size, int) and data.task != "language_model":
        check_batch_size(config, len(data.train))
    if workers.enabled and isinstance(config.train.batch_size, int):
        per_worker_batch(config.train.batch_size, workers.world_size)
    windows = data.task == "language_model"  # any size: the windows are counted when batches are planned
    check_batch_schedule(config, 2**62 if windows else len(data.train), streamed=isinstance(data.train, StreamedSplit))


def _check_positions(config: Config, data: PreparedData) -> None:
    """A transformer over audio frames takes at most the training split's longest recording: a longer
    validation or test recording would stop the run at its first evaluation, so say so before it starts.
    (``data.audio.max_seconds`` bounds every recording, and the preprocessor sizes the model for it.)"""
    spec = data.input_spec
    if config.model.name != "transformer" or spec.kind != "frames" or spec.max_length is None:
        return
    settings = data.preprocessor.settings  # type: ignore[attr-defined]
    for name in ("val", "test"):
        split = getattr(data, name)
        if split is None or not len(split):
            continue
        frames = settings.frames(int(split.x.lengths.max()))
        if frames > spec.max_length:
            rate = settings.sample_rate
            longest = (spec.max_length - 1) * settings.hop_length / rate
            raise ConfigError(
                f"data.audio.max_seconds: the {name} split holds a recording of {frames} frames "
                f"({int(split.x.lengths.max()) / rate:.2f} s) but a transformer is built for the longest training "
                f"recording, {spec.max_length} frames (about {longest:.2f} s); set data.audio.max_seconds to crop "
                "every recording to one bound"
            )


def _kind_phrase(kind: str) -> str:
    return {
        "vector": "a table of features",
        "image": "images",
        "tokens": "text",
        "frames": "audio",
    }.get(kind, kind)


def _check_batchnorm(config: Config, min_batch: int, workers: DistributedInfo, custom: str | None) -> None:
    """Batch normalization cannot train on one sample, nor ghost batches exceed the batch: say so before training.

    The batch a forward pass sees is ``train.batch_size`` per worker (accumulation repeats it, see
    docs/normalization.md), so that is what the batch-norm statistics come from.
    """
    size = schedule_start(config) or config.train.batch_size
    if not isinstance(size, int):
        return
    per_step = size // max(1, workers.world_size) if workers.enabled else size
    share = f" (per worker: {per_step})" if workers.enabled else ""
    norm = config.model.norm
    if min_batch >= 2 and per_step < 2:
        where = f"the custom module {custom}" if custom else f"the model ({config.model.batch_norm_fields})"
        raise ConfigError(
            f"train.batch_size: {size}{share} is too small for batch normalization in {where}, which needs "
            f"at least 2 samples per batch in training; use a batch size of 2 or more, or {_per_sample_norms(config)}"
        )
    if custom is None and norm == "ghost":
        ghost = config.model.ghost_batch_size
        if ghost > per_step:
            raise ConfigError(
                f"model.ghost_batch_size: {ghost} is larger than the batch each forward pass sees, "
                f"train.batch_size: {size}{share}; use a ghost size of at most {per_step}, or model.norm: batch"
            )
        if workers.enabled and config.model.sync_batchnorm:
            raise ConfigError(
                "model.sync_batchnorm: true would make ghost batch norm (model.norm: ghost) plain batch norm "
                "over all workers; use one of the two"
            )


def _per_sample_norms(config: Config) -> str:
    """The norms without batch statistics to suggest, for the fields that hold batch norm."""
    if config.model.norm in ("batch", "ghost") or config.model.batch_norm_fields is None:
        return "model.norm: group, layer or none"
    return "model.block_norm: layer, group or none"


def _longest_sample(data: PreparedData, config: Config) -> int | None:
    """Padded steps of the longest training sample (text: tokens), or ``None`` for fixed-size samples."""
    split = data.train
    if isinstance(split, TokenStream):
        return config.data.context
    if isinstance(split, SequenceSplit) and len(split):
        return int(split.x.lengths.max())
    return None


def _check_token_budget_norm(
    config: Config, data: PreparedData, min_batch: int, workers: DistributedInfo, custom: str | None
) -> None:
    """With a token budget, every forward pass must hold 2 samples for batch normalization over samples.

    A budget packs ``samples x longest <= budget`` padded tokens, so a sample longer than half the
    budget always gets a batch of its own: batch norm cannot train on it. A budget of at least twice
    the longest training sample (per worker) gives every batch 2 samples or more (a last batch of one
    is left out of the epoch). See docs/normalization.md.
    """
    budget = token_budget(config.train.batch_size)
    longest = _longest_sample(data, config)
    if budget is None or longest is None or min_batch < 2:
        return
    world = workers.world_size if workers.enabled else 1
    needed = 2 * longest * world
    if budget >= needed:
        return
    where = f"the custom module {custom}" if custom else f"the model ({config.model.batch_norm_fields})"
    share = f" with {world} workers" if world > 1 else ""
    raise ConfigError(
        f"train.batch_size: {budget}tokens{share} gives the longest training text ({longest} tokens) a batch of "
        f"its own, but batch normalization in {where} needs at least 2 samples per batch; use a budget of at "
        f"least {needed}tokens, or {_per_sample_norms(config)}"
    )


def _warn_ghost_of_a_token_budget(
    config: Config, batches: Batches, workers: DistributedInfo, custom: str | None
) -> None:
    """With a token budget the samples per batch vary: a ghost batch as large as the mean batch is no
    error (each batch up to ``ghost_batch_size`` samples is one ghost batch), but say that ghost batch
    norm then mostly acts as batch norm."""
    budget = token_budget(config.train.batch_size)
    if budget is None or custom is not None or config.model.norm != "ghost":
        return
    world = workers.world_size if workers.enabled else 1
    accumulate = max(1, config.train.accumulate)
    mean = float(getattr(batches, "batch_size", 0)) / (world * accumulate)
    ghost = config.model.ghost_batch_size
    if mean and ghost >= mean:
        logger.warning(
            "model.ghost_batch_size: %d is not smaller than the mean batch of train.batch_size: %dtokens "
            "(about %.0f samples per forward pass): most batches are a single ghost batch, as with model.norm: batch",
            ghost,
            budget,
            mean,
        )


def _check_monitor(config: Config, objective: Objective, *, has_val: bool) -> None:
    stopping = config.train.early_stopping
    if not stopping.enabled:
        return
    names = ["train_loss"] + (["train_accuracy"] if objective.is_classification else [])
    if has_val:
        names.append("val_loss")
        if objective.is_classification:
            names.append("val_accuracy")
        elif objective.is_language_model:
            names.append("val_bpc" if objective.token_unit == "char" else "val_perplexity")
        else:
            names += ["val_mse", "val_mae", "val_r2"]
    if stopping.monitor not in names:
        hint = "" if has_val else " (there is no validation split: data.split.val is 0)"
        raise ConfigError(
            f"train.early_stopping.monitor: {stopping.monitor!r} is not a logged metric{hint}; "
            f"available: {', '.join(names)}"
        )


# ------------------------------------------------------------------------------------------ the parts


def _data_parallel(
    model: torch.nn.Module, config: Config, workers: DistributedInfo, device: torch.device
) -> torch.nn.Module:
    """Wrap in DistributedDataParallel under several workers (batch norm synchronized on request)."""
    if not workers.enabled:
        return model
    if config.model.sync_batchnorm and has_batchnorm(model):
        if device.type != "cuda":
            raise ConfigError(
                f"model.sync_batchnorm: true needs CUDA devices (this run is on {device.type}); without it each "
                "worker normalizes its own share of the batch, as model.norm: ghost does in one process"
            )
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _sequence_transforms(config: Config, data: PreparedData, device: torch.device) -> tuple[Any, Any]:
    """Batch transforms of audio runs: (training: augmentation and features, evaluation: features)."""
    if data.input_spec.kind != "frames":
        return None, None
    from batchlab.data.audio import audio_transforms

    transforms: tuple[Any, Any] = audio_transforms(
        data.preprocessor,  # type: ignore[arg-type]
        config.data.augment,
        seed=config.train.seed,
        device=device,
    )
    return transforms


def _training_callbacks(
    config: Config, batches: Batches, objective: Objective, workers: DistributedInfo, data: PreparedData
) -> list[Callback]:
    """NaN guard, padding meter (variable-length data), early stopping and the noise-scale estimate."""
    train = config.train
    callbacks: list[Callback] = [NaNGuard(skip=train.on_nan == "skip")]
    if data.input_spec.is_sequence:
        callbacks.append(PaddingMeter(report_padding=data.input_spec.variable_length))
    callbacks += _noise_scale(config, batches, objective, workers)
    if train.early_stopping.enabled:
        es = train.early_stopping
        callbacks.append(EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta, es.restore_best))
    return callbacks


def _noise_scale(config: Config, batches: Batches, objective: Objective, workers: DistributedInfo) -> list[Callback]:
    """The gradient noise scale callback when ``train.noise_scale.enabled`` (logs ``noise_scale``).

    Under DDP without accumulation the local and all-reduced gradients give it for free; otherwise it
    measures small micro-batches at the current weights every ``every_steps`` steps.
    """
    settings = config.train.noise_scale
    if not settings.enabled:
        return []
    size = int(getattr(batches, "batch_size", 1))
    if workers.enabled and config.train.accumulate == 1:
        from batchlab.train.callbacks.ddp_noise_scale import DDPNoiseScale

        return [DDPNoiseScale(size // workers.world_size, workers.world_size, settings.ema)]
    from batchlab.train.callbacks.noise_scale import GradientNoiseScale

    return [
        GradientNoiseScale(
            batches,  # type: ignore[arg-type]
            objective.loss,
            every_steps=settings.every_steps,
            micro_batches=settings.micro_batches,
            micro_batch_size=settings.micro_batch_size or max(1, size // config.train.accumulate),
            ema=settings.ema,
            seed=config.train.seed,
        )
    ]


def _run_info(
    config: Config,
    data: PreparedData,
    objective: Objective,
    model: torch.nn.Module,
    batches: Any,
    settings: LoopSettings,
    total_steps: int,
    device: torch.device,
    custom_model: str | None,
    lr: float,
    workers: DistributedInfo,
) -> dict[str, Any]:
    """Facts about the run for ``run.json`` (what inference needs to rebuild it) and the start summary."""
    parameters = sum(p.numel() for p in model.parameters())
    spec = data.input_spec
    step_samples = int(batches.batch_size)
    micro = -(-step_samples // settings.accumulate)
    train_count = int(batches.num_samples)
    counts = f"train {len(data.train)}"
    counts += f", val {len(data.val)}" if data.val is not None else ""
    counts += f", test {len(data.test)}" if data.test is not None else ""
    unit = "tokens" if spec.kind == "tokens" and data.task == "language_model" else "samples"
    budget = token_budget(effective_batch_size(config))
    steps_per_epoch = len(batches)
    if config.train.batch_size == "full":
        size_name = "full batch"
    elif budget is not None:
        size_name = f"token budget {budget // settings.accumulate} (about {micro} samples)"
    else:
        size_name = f"batch size {micro}"
    plural = "batch" if steps_per_epoch == 1 else "batches"
    batches_line = f"Batches: {size_name} -> {steps_per_epoch} {plural} per epoch"
    if budget is None and data.task != "language_model":
        rule = "floor" if getattr(batches, "drop_last", False) else "ceil"
        batches_line += f" ({rule}({train_count}/{step_samples}))"
    elif data.task == "language_model":
        batches_line += f" ({train_count} windows of {config.data.context} tokens)"
    if settings.accumulate > 1:
        batches_line += f", accumulate {settings.accumulate} -> effective batch {step_samples}"
    data_line = f"Data: {counts} {unit if data.task == 'language_model' else 'samples'}; " + _input_phrase(data)
    truncated = data.notes.get("truncated")
    if truncated and truncated.get("train", [0])[0]:
        cut, of = truncated["train"]
        data_line += f"; {cut} of {of} training texts cut to {truncated['max_length']} tokens"
    data_line += f"; {data.task}" + (f" with {objective.num_classes} classes" if objective.is_classification else "")
    summary = (
        f"{data_line}\n{batches_line}\n"
        f"Model: {custom_model or config.model.name}, {parameters:,} parameters; "
        f"{config.train.optimizer.name} lr {_lr_text(config, lr, step_samples if budget is None else budget)}; "
        f"loss {objective.loss_name}; up to {total_steps} steps on {device}"
    )
    info: dict[str, Any] = {
        "summary": summary,
        "task": data.task,
        "classes": data.classes,
        "input_shape": list(spec.shape),
        "input_spec": spec.to_dict(),
        "num_outputs": objective.num_outputs,
        "loss": objective.loss_name,
        "target_mean": objective.target_mean,
        "target_std": objective.target_std,
        "token_unit": objective.token_unit,
        "is_image": spec.kind == "image",
        "train_samples": len(data.train),
        "val_samples": len(data.val) if data.val is not None else 0,
        "test_samples": len(data.test) if data.test is not None else 0,
        "batch_size": micro,
        "batches_per_epoch": steps_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "effective_batch": step_samples,
        "token_budget": budget,
        "total_steps": total_steps,
        "parameters": parameters,
        "model": custom_model or config.model.name,
        "custom_model": custom_model is not None,
        "device": str(device),
        "torch": torch.__version__,
        "lr": lr,
        "lr_scaling": config.train.lr_scaling.model_dump(),
        **({"truncated": truncated} if truncated else {}),
    }
    if workers.enabled:
        info.update(
            world_size=workers.world_size,
            global_batch=step_samples,
            per_worker_batch=-(-step_samples // workers.world_size),
            backend=workers.backend,
        )
    else:
        info["world_size"] = 1
    return info


def _input_phrase(data: PreparedData) -> str:
    spec = data.input_spec
    if spec.kind == "tokens":
        return f"tokens (vocabulary {spec.vocab_size}, up to {spec.max_length} per sample)"
    if spec.kind == "frames":
        return f"audio frames of {spec.shape[0]} features (up to {spec.max_length} frames)"
    return f"input {tuple(spec.shape)}"


def _lr_text(config: Config, lr: float, effective_batch: int) -> str:
    scaling = config.train.lr_scaling
    if lr == config.train.optimizer.lr:
        return f"{lr:g}"
    base = config.train.optimizer.lr
    return f"{lr:g} ({scaling.rule} scaling of {base:g} from batch {scaling.base_batch_size} to {effective_batch})"


def _trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _forward_samples(config: Config, data: PreparedData, workers: DistributedInfo) -> int:
    """Samples (or tokens, for a token budget) in one forward pass of one process."""
    size = config.train.batch_size
    budget = token_budget(size)
    if budget is not None:
        return budget
    samples = len(data.train) if size == "full" else int(size)
    return max(1, samples // max(1, workers.world_size))
