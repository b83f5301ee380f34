"""One cell of a batch-size study: the config of a (batch size, seed) pair, and its measured run.

A cell trains the study's config with ``train.batch_size`` and ``train.seed`` replaced, the study's budget,
learning-rate scaling and warmup applied, validation every ``steps_per_epoch / evals_per_epoch`` steps (so
that steps to a target are resolved as finely at every batch size), and periodic checkpoints and (unless
asked for) early stopping turned off: every cell trains for the whole budget, and an unfinished cell is
trained again from the start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from batchlab.config import Config, make_config, samples_of
from batchlab.data.batching import batch_count
from batchlab.errors import DivergenceError
from batchlab.experiment.components import resolve_device
from batchlab.experiment.training import train_run
from batchlab.study.callbacks import StopAtTarget, StudyClock
from batchlab.study.memory import measure_peak
from batchlab.train.evaluation import evaluate_batches

if TYPE_CHECKING:
    from rich.console import Console

    from batchlab.data.pipeline import PreparedData
    from batchlab.study.budget import Budget
    from batchlab.study.sizes import BatchSize
    from batchlab.study.targets import Target
    from batchlab.train.callbacks import Callback

__all__ = ["CellSettings", "cell_config", "cell_name", "run_cell"]


@dataclass(frozen=True)
class CellSettings:
    """What every cell of a study shares besides the config.

    Attributes:
        budget: how long each cell trains; ``None`` keeps the config's ``epochs`` / ``max_steps``.
        lr_rule: ``none``, ``linear`` or ``sqrt``; ``None`` keeps the config's ``train.lr_scaling.rule``.
        base_batch: the effective batch the config's learning rate was set for, in samples; ``None``:
            the config's ``lr_scaling.base_batch_size``, else its own effective batch.
        warmup: linear warmup per cell; ``None`` keeps ``train.schedule.warmup_steps``.
        evals_per_epoch: validations per epoch (at least one per optimizer step at most).
        stop_at_target: end a cell at the first evaluation that meets the target.
        early_stopping: keep the config's early stopping (off by default: every cell uses its budget).
    """

    budget: Budget | None = None
    lr_rule: str | None = None
    base_batch: int | None = None
    warmup: Budget | None = None
    evals_per_epoch: int = 4
    stop_at_target: bool = False
    early_stopping: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": str(self.budget) if self.budget else None,
            "lr_rule": self.lr_rule,
            "base_batch": self.base_batch,
            "warmup": str(self.warmup) if self.warmup else None,
            "evals_per_epoch": self.evals_per_epoch,
            "stop_at_target": self.stop_at_target,
            "early_stopping": self.early_stopping,
        }


def cell_name(size: BatchSize, seed: int) -> str:
    """``b<size>-s<seed>``, e.g. ``b32-s0`` or ``bfull-s2``."""
    return f"b{size.label}-s{seed}"


def base_batch_of(config: Config, settings: CellSettings, train_samples: int) -> int:
    """The effective batch the config's learning rate belongs to, in samples."""
    if settings.base_batch is not None:
        return settings.base_batch
    if config.train.lr_scaling.base_batch_size is not None:
        return config.train.lr_scaling.base_batch_size
    size = samples_of(config.train.batch_size, train_samples)
    return min(size, train_samples) * config.train.accumulate


def cell_config(config: Config, size: BatchSize, seed: int, settings: CellSettings, train_samples: int) -> Config:
    """The config of one cell (validated).

    Args:
        config: the study's config.
        size: the cell's batch size.
        seed: the cell's ``train.seed`` (weights, batch order, dropout; the data split keeps its own seed).
        settings: budget, learning-rate scaling, warmup, evaluation interval.
        train_samples: samples in the training split, ``N``.
    """
    raw = config.model_dump(mode="json")
    train = raw["train"]
    accumulate = config.train.accumulate
    effective = size.samples * accumulate
    steps_per_epoch = batch_count(train_samples, min(effective, train_samples), config.train.drop_last)
    raw["name"] = f"{config.name}-{cell_name(size, seed)}"
    train["batch_size"] = size.spec
    train["seed"] = seed
    budget = settings.budget
    if budget is not None:
        if budget.unit == "epochs" and budget.amount.is_integer():
            train["epochs"], train["max_steps"] = int(budget.amount), None
        else:
            train["epochs"] = None
            train["max_steps"] = budget.steps(effective_batch=effective, steps_per_epoch=steps_per_epoch)
    rule = settings.lr_rule or config.train.lr_scaling.rule
    train["lr_scaling"] = {"rule": rule, "base_batch_size": base_batch_of(config, settings, train_samples)}
    if settings.warmup is not None:
        warmup = settings.warmup.steps(effective_batch=effective, steps_per_epoch=steps_per_epoch)
        train["schedule"]["warmup_steps"] = warmup if settings.warmup.amount > 0 else 0
    train["val_every_steps"] = max(1, steps_per_epoch // max(1, settings.evals_per_epoch))
    train["checkpoint"] = {"every_steps": None, "every_epochs": None, "every_seconds": None}
    if not settings.early_stopping:
        train["early_stopping"]["enabled"] = False
    return make_config(raw)


def run_cell(
    config: Config,
    run_dir: Path,
    data: PreparedData,
    *,
    target: Target | None = None,
    stop_at_target: bool = False,
    extra_callbacks: tuple[Callback, ...] = (),
    progress: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Train one cell into ``run_dir`` and measure it.

    Args:
        config: the cell's config (from :func:`cell_config`).
        run_dir: the cell's run directory (must not hold a run).
        data: the prepared data of the study's config (for the final evaluation of the training split).
        target: stop at it when ``stop_at_target``.
        stop_at_target: end the run at the first evaluation that meets ``target``.
        extra_callbacks: more callbacks for the run (e.g. a noise-scale estimate).
        progress: show the run's progress bar and table.
        console: where progress goes.

    Returns:
        The cell's record (JSON-ready): sizes, learning rate, steps, samples, seconds, the evaluation
        curve, final training and validation metrics of the final weights, and peak memory.
    """
    clock = StudyClock()
    # The clock copies each row last, after the extra callbacks have added their columns.
    callbacks: list[Callback] = [*extra_callbacks, clock]
    if stop_at_target and target is not None:
        callbacks.append(StopAtTarget(target))
    device = resolve_device(config.train.device)
    diverged = None
    with measure_peak(device if device.type == "cuda" else None) as memory:
        try:
            result = train_run(
                config, run_dir=run_dir, callbacks=callbacks, progress=progress, console=console, data=data
            )
        except DivergenceError as exc:
            # A diverged cell is a result (the batch size or its learning rate is too large), not a crash.
            result, diverged = None, str(exc)
    final: dict[str, float] = {}
    if result is not None and result.parts is not None:
        parts = result.parts
        model_device = parts.device
        final = _prefixed(_metrics(parts, data.train), "train_")
        if data.val is not None and len(data.val):
            final.update(_prefixed(_metrics(parts, data.val), "val_"))
        info = result.info
        stop_reason = result.stop_reason
        noise = _noise_estimate(parts)
    else:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        model_device = device
        stop_reason = f"diverged: {diverged}"
        noise = None
    peak = memory.result
    train_samples = int(info["train_samples"])
    return {
        "diverged": diverged is not None,
        "size": "full" if config.train.batch_size == "full" else str(config.train.batch_size),
        "batch_size": int(info["batch_size"]),
        "effective_batch": int(info["effective_batch"]),
        "seed": config.train.seed,
        "status": "finished",
        "stop_reason": stop_reason,
        "lr": float(info["lr"]),
        "lr_scaling": info.get("lr_scaling"),
        "warmup_steps": config.train.schedule.warmup_steps,
        "train_samples": train_samples,
        "batches_per_epoch": int(info["batches_per_epoch"]),
        "steps_per_epoch": int(info["steps_per_epoch"]),
        "val_every_steps": config.train.val_every_steps,
        "steps": int(info.get("steps", state_steps(clock))),
        "samples": int(info.get("samples", state_samples(clock))),
        "epochs": int(info.get("samples", state_samples(clock))) / train_samples,
        "train_seconds": round(clock.train_seconds, 6),
        "eval_seconds": round(clock.eval_seconds, 6),
        "wall_seconds": float(info.get("train_seconds", clock.train_seconds + clock.eval_seconds)),
        "threads": torch.get_num_threads(),
        "device": str(model_device),
        "final": final,
        "curve": clock.rows,
        "memory": {
            "peak_rss": peak.peak_rss if peak else None,
            "start_rss": peak.start_rss if peak else None,
            "rss_growth": peak.growth if peak else None,
            "cuda_peak": peak.cuda_peak if peak else None,
            "exact": peak.exact if peak else False,
        },
        "run_dir": str(run_dir),
        **({"noise": noise} if noise is not None else {}),
    }


def state_steps(clock: StudyClock) -> int:
    """Optimizer steps at the clock's last row (for a run that ended without a summary)."""
    return int(clock.rows[-1]["step"]) if clock.rows else 0


def state_samples(clock: StudyClock) -> int:
    """Training samples at the clock's last row."""
    return int(clock.rows[-1]["samples"]) if clock.rows else 0


def _noise_estimate(parts: Any) -> dict[str, Any] | None:
    """The noise-scale measurements of a run with ``train.noise_scale.enabled``, or ``None``."""
    from batchlab.train.callbacks.noise_scale import GradientNoiseScale

    callback = next((c for c in parts.callbacks if isinstance(c, GradientNoiseScale)), None)
    if callback is None:
        return None
    return {"b_small": callback.b_small, "b_big": callback.b_big, "measurements": callback.measurements}


def _metrics(parts: Any, split: Any) -> dict[str, float]:
    """Metrics of the final weights on ``split`` (without the sample count)."""
    metrics = evaluate_batches(parts.module, parts.eval_batches(split).epoch(0), parts.objective)
    return {name: float(value) for name, value in metrics.items() if name != "samples"}


def _prefixed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    return {prefix + key: value for key, value in metrics.items()}
