"""One training run from a config: data -> model -> fit -> evaluate -> run directory.

Everything a user can get wrong (config, data, batch size, monitored metric, run directory) is checked
before the run directory is created, so a mistake leaves nothing behind.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from batchlab.config import Config
from batchlab.data.batching import MiniBatches
from batchlab.data.pipeline import PreparedData, prepare_data
from batchlab.data.sharding import ShardedBatches
from batchlab.errors import BatchlabError, CheckpointError, ConfigError, DivergenceError, InterruptedRun
from batchlab.experiment.components import (
    check_batch_size,
    eval_batches,
    objective_for,
    resolve_device,
    seed_everything,
    train_batches,
)
from batchlab.experiment.rundir import RunDirectory, default_run_path
from batchlab.models import build_model
from batchlab.train.callbacks import Callback, Checkpointing, CSVLogger, EarlyStopping, NaNGuard, ProgressBar
from batchlab.train.callbacks.base import unwrap_module
from batchlab.train.callbacks.graceful_stop import GracefulStop
from batchlab.train.callbacks.tracker import MetricTracker
from batchlab.train.checkpoint import latest_valid_checkpoint, remove_stale_staging, restore_rng, save_weights
from batchlab.train.distributed import (
    DistributedInfo,
    broadcast_object,
    finish_distributed,
    init_distributed,
    per_worker_batch,
)
from batchlab.train.loop import evaluate_outputs, fit
from batchlab.train.lr_scaling import scaled_lr
from batchlab.train.objective import Objective
from batchlab.train.optim import build_optimizer, build_scheduler
from batchlab.train.state import LoopSettings, LoopState

__all__ = ["RunResult", "train_run"]

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a finished run gives back.

    Attributes:
        run_dir: the run directory.
        history: one dict per evaluation (the rows of ``metrics.csv``).
        test_metrics: metrics on the test split (``None`` without one).
        stop_reason: why training ended.
        best_epoch: the epoch whose weights were kept by early stopping (``None`` if it did not restore).
        model: the trained module (on the training device).
        config: the resolved config.
    """

    run_dir: Path
    history: list[dict[str, Any]]
    test_metrics: dict[str, Any] | None
    stop_reason: str
    best_epoch: int | None
    model: torch.nn.Module
    config: Config
    info: dict[str, Any] = field(default_factory=dict)


def train_run(
    config: Config,
    *,
    model: torch.nn.Module | None = None,
    run_dir: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    resume: bool = False,
    progress: bool = True,
    console: Any = None,
) -> RunResult:
    """Train, evaluate and save one run.

    Args:
        config: the validated config.
        model: a module to train instead of the config's model (input ``(batch, *input_shape)``,
            output ``(batch, outputs)``; see :attr:`PreparedData.num_outputs`).
        run_dir: where to write the run; default ``runs/<config.name>-<timestamp>``.
        callbacks: extra callbacks, called after the built-in ones.
        resume: continue the run in ``run_dir`` from its latest valid checkpoint.
        progress: show the progress bar and the per-epoch table.
        console: a ``rich.console.Console`` for progress output.

    Raises:
        BatchlabError: a config, data or checkpoint problem (nothing is written).
        DivergenceError: the loss became NaN or infinite (the run directory keeps what was done).
    """
    started = time.perf_counter()
    workers = DistributedInfo.from_env()
    init_distributed(workers)
    try:
        return _train(config, workers, model, run_dir, callbacks, resume, progress, console, started)
    finally:
        finish_distributed()


def _train(
    config: Config,
    workers: DistributedInfo,
    model: torch.nn.Module | None,
    run_dir: str | Path | None,
    callbacks: Iterable[Callback],
    resume: bool,
    progress: bool,
    console: Any,
    started: float,
) -> RunResult:
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = _device_for(config, workers)
    data = prepare_data(config.data)
    if config.data.augment and not data.is_image:
        raise ConfigError("data.augment: augmentations apply to images, but this data is a table of features")
    check_batch_size(config, len(data.train))
    if workers.enabled and config.train.batch_size != "full":
        per_worker_batch(config.train.batch_size, workers.world_size)
    objective = objective_for(config, data)

    seed_everything(config.train.seed)
    custom_model = type(model).__name__ if model is not None else None
    if model is None:
        model = build_model(config.model, data.input_shape, objective.num_outputs)
    core = model.to(device)
    model = _data_parallel(core, config, workers, device)
    if config.train.compile:
        model = torch.compile(model)  # type: ignore[assignment]  # (DDP included: torch splits at its buckets)
    batches = train_batches(config, data.train, device)
    val = eval_batches(data.val, device, data.is_image) if data.val is not None and len(data.val) else None
    settings = LoopSettings(
        epochs=config.train.epochs,
        max_steps=config.train.max_steps,
        accumulate=config.train.accumulate,
        grad_clip=config.train.grad_clip,
        val_every_steps=config.train.val_every_steps,
    )
    steps_per_epoch = -(-len(batches) // settings.accumulate)
    total_steps = settings.total_steps(len(batches))
    lr = _scaled_lr(config, batches.batch_size * settings.accumulate)
    optimizer = build_optimizer(model.parameters(), config.train.optimizer.model_copy(update={"lr": lr}))
    scheduler = build_scheduler(
        optimizer, config.train.schedule, total_steps=total_steps, steps_per_epoch=steps_per_epoch
    )
    _check_monitor(config, objective, has_val=val is not None)

    run = _open_run_directory(config, run_dir, resume, workers, core)
    state = LoopState()
    info = _run_info(config, data, objective, core, batches, settings, total_steps, device, custom_model)
    info.update(lr=lr, lr_scaling=config.train.lr_scaling.model_dump(), **_worker_info(workers, batches))
    builtin = [*_noise_scale(config, batches, objective, workers), *_builtin_callbacks(config, run, workers.is_main)]
    # The progress bar goes last so that its closing lines see what the others did at train end.
    show = progress and workers.is_main
    all_callbacks = [*builtin, *callbacks, *([ProgressBar(console)] if show else [])]
    if resume:
        _check_same_config(run, config)
        _restore(run, model, optimizer, scheduler, state, all_callbacks, device, workers)
    elif workers.is_main:
        run.write_config(config)
        run.write_json("preprocess.json", data.preprocessor.state_dict())
        run.write_json("run.json", {**info, "status": "training"})

    state = fit(
        model,
        ShardedBatches(batches, workers.rank, workers.world_size) if workers.enabled else batches,
        objective=objective,
        optimizer=optimizer,
        scheduler=scheduler,
        val=ShardedBatches(val, workers.rank, workers.world_size) if workers.enabled and val is not None else val,
        settings=settings,
        callbacks=all_callbacks,
        state=state,
        info=info,
    )
    early = next((c for c in builtin if isinstance(c, EarlyStopping)), None)
    best_epoch = early.best_epoch if early is not None and early.restored else None
    interrupted = state.extra.get("interrupted")
    if interrupted:
        if workers.is_main:
            run.write_json("run.json", {**info, "status": "interrupted", "stop_reason": state.stop_reason})
        raise InterruptedRun(
            f"interrupted by {interrupted} at step {state.step}; checkpoint written. "
            f"Resume with: batchlab train --resume {run.path}"
        )
    diverged = state.extra.get("diverged")
    test_metrics = None
    if workers.is_main:
        save_weights(run.weights_file, core.state_dict())
        if data.test is not None and len(data.test) and not diverged:
            test_metrics = evaluate_split(core, eval_batches(data.test, device, data.is_image), objective)
            run.write_json("test_metrics.json", test_metrics)
    info.update(
        status="diverged" if diverged else "finished",
        stop_reason=state.stop_reason,
        best_epoch=best_epoch,
        stopped_epoch=early.stopped_epoch if early is not None else None,
        epochs_run=state.epoch,
        steps=state.step,
        samples=state.samples,
        train_seconds=round(state.seconds, 3),
        total_seconds=round(time.perf_counter() - started, 3),
    )
    if workers.is_main:
        run.write_json("run.json", info)
    if diverged:
        raise DivergenceError(f"{diverged} (run directory: {run.path})")
    return RunResult(run.path, state.history, test_metrics, state.stop_reason or "", best_epoch, core, config, info)


def _device_for(config: Config, workers: DistributedInfo) -> torch.device:
    """The configured device; under NCCL each worker takes the GPU of its local rank."""
    device = resolve_device(config.train.device)
    if workers.enabled and device.type == "cuda":
        return torch.device("cuda", workers.local_rank)
    return device


def _data_parallel(
    model: torch.nn.Module, config: Config, workers: DistributedInfo, device: torch.device
) -> torch.nn.Module:
    """Wrap in DistributedDataParallel under several workers (batch norm synchronized on request)."""
    if not workers.enabled:
        return model
    if config.model.sync_batchnorm:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _open_run_directory(
    config: Config, run_dir: str | Path | None, resume: bool, workers: DistributedInfo, model: torch.nn.Module
) -> RunDirectory:
    """Rank 0 checks and creates the run directory; every rank learns its path (or rank 0's error)."""
    outcome: tuple[str | None, str | None] = (None, None)
    if workers.is_main:
        try:
            run = RunDirectory(run_dir if run_dir is not None else default_run_path(config.name))
            if resume:
                run.require_run()
            else:
                check_free_space(run.nearest_existing(), model, config.train.checkpoint.keep)
                run.create()
            outcome = (str(run.path), None)
        except BatchlabError as exc:
            if not workers.enabled:
                raise
            outcome = (None, str(exc))
    path, error = broadcast_object(outcome)
    if error is not None:
        raise ConfigError(error)
    return RunDirectory(str(path))


def _worker_info(workers: DistributedInfo, batches: MiniBatches) -> dict[str, Any]:
    if not workers.enabled:
        return {"world_size": 1}
    return {
        "world_size": workers.world_size,
        "global_batch": batches.batch_size,
        "per_worker_batch": -(-batches.batch_size // workers.world_size),
        "backend": workers.backend,
    }


def evaluate_split(model: torch.nn.Module, batches: MiniBatches, objective: Objective) -> dict[str, Any]:
    """Test metrics without prefixes: ``loss``, ``accuracy``, ``f1_macro``, ... or ``mse``, ``mae``, ``r2``."""
    outputs, targets = evaluate_outputs(model, batches.epoch(0))
    metrics: dict[str, Any] = {"loss": float(objective.loss(outputs, targets))}
    metrics.update(objective.metrics(outputs, targets))
    metrics["samples"] = len(targets)
    return metrics


def _scaled_lr(config: Config, effective_batch: int) -> float:
    """The configured rate, scaled by ``train.lr_scaling`` from its base batch to ``effective_batch``."""
    scaling = config.train.lr_scaling
    base = scaling.base_batch_size
    if scaling.rule == "none" or base is None:
        return config.train.optimizer.lr
    return scaled_lr(config.train.optimizer.lr, batch_size=effective_batch, base_batch_size=base, rule=scaling.rule)


def _check_monitor(config: Config, objective: Objective, *, has_val: bool) -> None:
    stopping = config.train.early_stopping
    if not stopping.enabled:
        return
    names = ["train_loss"] + (["train_accuracy"] if objective.is_classification else [])
    if has_val:
        names += ["val_loss"] + (["val_accuracy"] if objective.is_classification else ["val_mse", "val_mae", "val_r2"])
    if stopping.monitor not in names:
        hint = "" if has_val else " (there is no validation split: data.split.val is 0)"
        raise ConfigError(
            f"train.early_stopping.monitor: {stopping.monitor!r} is not a logged metric{hint}; "
            f"available: {', '.join(names)}"
        )


def _noise_scale(
    config: Config, batches: MiniBatches, objective: Objective, workers: DistributedInfo
) -> list[Callback]:
    """The gradient noise scale callback when ``train.noise_scale.enabled`` (logs ``noise_scale``).

    Under DDP without accumulation the local and all-reduced gradients give it for free; otherwise it
    measures small micro-batches at the current weights every ``every_steps`` steps.
    """
    settings = config.train.noise_scale
    if not settings.enabled:
        return []
    if workers.enabled and config.train.accumulate == 1:
        from batchlab.train.callbacks.ddp_noise_scale import DDPNoiseScale

        return [DDPNoiseScale(batches.batch_size // workers.world_size, workers.world_size, settings.ema)]
    from batchlab.train.callbacks.noise_scale import GradientNoiseScale

    return [
        GradientNoiseScale(
            batches,
            objective.loss,
            every_steps=settings.every_steps,
            micro_batches=settings.micro_batches,
            micro_batch_size=settings.micro_batch_size,
            ema=settings.ema,
            seed=config.train.seed,
        )
    ]


def _builtin_callbacks(config: Config, run: RunDirectory, write: bool = True) -> list[Callback]:
    """NaN guard, metrics CSV, early stopping, checkpoints and Ctrl-C; only a writing rank gets the CSV."""
    train = config.train
    callbacks: list[Callback] = [NaNGuard(skip=train.on_nan == "skip")]
    if write:
        callbacks.append(CSVLogger(run.metrics_file))
    if train.early_stopping.enabled:
        es = train.early_stopping
        callbacks.append(EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta, es.restore_best))
    ck = train.checkpoint
    checkpointing = Checkpointing(
        run.checkpoints,
        every_steps=ck.every_steps,
        every_epochs=ck.every_epochs,
        every_seconds=ck.every_seconds,
        keep=ck.keep,
        best=MetricTracker(train.early_stopping.monitor, train.early_stopping.mode, train.early_stopping.min_delta),
        write=write,
    )
    # Checkpointing comes after the callbacks whose state it saves; with no schedule it only serves Ctrl-C.
    callbacks += [checkpointing, GracefulStop(checkpointing)]
    return callbacks


def _check_same_config(run: RunDirectory, config: Config) -> None:
    """Resuming with a config other than the saved one would silently train something else."""
    saved = run.read_config()
    differences = diff_configs(saved, config, ignore=("name", "train.epochs", "train.max_steps"))
    if differences:
        shown = "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else "")
        raise CheckpointError(f"--resume {run.path}: the config differs from the run's saved config.yaml: {shown}")


def diff_configs(a: Config, b: Config, ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted paths whose values differ, as ``path: saved -> given``."""
    left, right = _flatten(a.model_dump(mode="json")), _flatten(b.model_dump(mode="json"))
    return [
        f"{path}: {left.get(path)!r} -> {right.get(path)!r}"
        for path in sorted(set(left) | set(right))
        if left.get(path) != right.get(path) and not path.startswith(ignore)
    ]


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_free_space(path: Path, model: torch.nn.Module, keep: int) -> None:
    """Refuse to start when the disk cannot hold the checkpoints (weights + optimizer state, kept ``keep`` times)."""
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    needed = parameter_bytes * 4 * (keep + 2) + 16 * 2**20
    free = shutil.disk_usage(path).free
    if free < needed:
        raise ConfigError(
            f"--run-dir: only {free / 2**20:.0f} MiB free on the disk of {str(path)!r}; "
            f"the run needs about {needed / 2**20:.0f} MiB for weights and {keep} checkpoints"
        )


def _restore(
    run: RunDirectory,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: LoopState,
    callbacks: list[Callback],
    device: torch.device,
    workers: DistributedInfo,
) -> None:
    if workers.is_main:
        remove_stale_staging(run.checkpoints)
    checkpoint, problems = latest_valid_checkpoint(run.checkpoints)
    for problem in problems:
        log.warning("%s; falling back to an older checkpoint", problem)
    if checkpoint is None:
        # Killed before its first checkpoint: the run starts over (the same seed gives the same run).
        log.warning("--resume %s: no valid checkpoint yet; training from the start", run.path)
        return
    core = unwrap_module(model)
    problems = weight_mismatches(core.state_dict(), checkpoint.model)
    if problems:
        raise CheckpointError(f"--resume {run.path}: the checkpoint does not fit the model: {'; '.join(problems)}")
    core.load_state_dict({k: v.to(device) for k, v in checkpoint.model.items()})
    optimizer.load_state_dict(checkpoint.optimizer["optimizer"])
    if scheduler is not None and checkpoint.optimizer.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint.optimizer["scheduler"])
    state.load_state_dict(checkpoint.state)
    state.extra.update(checkpoint.state.get("extra", {}))
    from batchlab.train.callbacks import CallbackList, TrainingContext

    hooks = CallbackList(callbacks, TrainingContext(model, optimizer, scheduler))
    hooks.load_state_dict(checkpoint.state.get("callbacks", {}))
    for key, callback in hooks.keyed():
        load = getattr(callback, "load_tensors", None)
        if load is not None:
            prefix = f"{key}/"
            load({k[len(prefix) :]: v.to(device) for k, v in checkpoint.extra.items() if k.startswith(prefix)})
    restore_rng(checkpoint.rng, checkpoint.state, workers.rank, workers.world_size)


def _run_info(
    config: Config,
    data: PreparedData,
    objective: Objective,
    model: torch.nn.Module,
    batches: MiniBatches,
    settings: LoopSettings,
    total_steps: int,
    device: torch.device,
    custom_model: str | None,
) -> dict[str, Any]:
    parameters = sum(p.numel() for p in model.parameters())
    effective = batches.batch_size * settings.accumulate
    counts = f"train {len(data.train)}"
    counts += f", val {len(data.val)}" if data.val is not None else ""
    counts += f", test {len(data.test)}" if data.test is not None else ""
    batch_rule = "floor" if batches.drop_last else "ceil"
    size_name = "full batch" if config.train.batch_size == "full" else f"batch size {batches.batch_size}"
    summary = (
        f"Data: {counts} samples; input {tuple(data.input_shape)}; {data.task}"
        + (f" with {objective.num_classes} classes" if objective.is_classification else "")
        + f"\nBatches: {size_name} -> {len(batches)} batches per epoch "
        + f"({batch_rule}({len(data.train)}/{batches.batch_size}))"
        + (f", accumulate {settings.accumulate} -> effective batch {effective}" if settings.accumulate > 1 else "")
        + f"\nModel: {custom_model or config.model.name}, "
        + f"{parameters:,} parameters; {config.train.optimizer.name} lr {_lr_text(config, effective)}; "
        + f"loss {objective.loss_name}; up to {total_steps} steps on {device}"
    )
    return {
        "summary": summary,
        "task": data.task,
        "classes": data.classes,
        "input_shape": list(data.input_shape),
        "num_outputs": objective.num_outputs,
        "loss": objective.loss_name,
        "target_mean": objective.target_mean,
        "target_std": objective.target_std,
        "is_image": data.is_image,
        "train_samples": len(data.train),
        "val_samples": len(data.val) if data.val is not None else 0,
        "test_samples": len(data.test) if data.test is not None else 0,
        "batch_size": batches.batch_size,
        "batches_per_epoch": len(batches),
        "steps_per_epoch": -(-len(batches) // settings.accumulate),
        "effective_batch": effective,
        "total_steps": total_steps,
        "parameters": parameters,
        "model": custom_model or config.model.name,
        "custom_model": custom_model is not None,
        "device": str(device),
        "torch": torch.__version__,
    }


def _lr_text(config: Config, effective_batch: int) -> str:
    lr = _scaled_lr(config, effective_batch)
    scaling = config.train.lr_scaling
    if lr == config.train.optimizer.lr:
        return f"{lr:g}"
    base = config.train.optimizer.lr
    return f"{lr:g} ({scaling.rule} scaling of {base:g} from batch {scaling.base_batch_size} to {effective_batch})"


def weight_mismatches(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], limit: int = 6) -> list[str]:
    """Tensors missing, unexpected or of another shape, as short phrases (at most ``limit``)."""
    problems = [f"missing {k}" for k in expected if k not in found]
    problems += [f"unexpected {k}" for k in found if k not in expected]
    problems += [
        f"{k}: checkpoint {tuple(found[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in found and tuple(found[k].shape) != tuple(v.shape)
    ]
    return problems[:limit] + ([f"and {len(problems) - limit} more"] if len(problems) > limit else [])
