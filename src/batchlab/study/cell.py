"""One cell of a batch-size study: the config of a (batch size, seed) pair, and its measured run.

A cell trains the study's config with ``train.batch_size`` and ``train.seed`` replaced, the study's budget,
learning-rate scaling and warmup applied, validation every ``steps_per_epoch / evals_per_epoch`` steps (so
that steps to a target are resolved as finely at every batch size), and periodic checkpoints and (unless
asked for) early stopping turned off: every cell trains for the whole budget, and an unfinished cell is
trained again from the start.

The batch size is in samples or, for text, a token budget (``"512tokens"``). Steps per epoch come from the
cell's epoch plan (:mod:`batchlab.study.plan`): the real batches for text, ``ceil(N / B)`` otherwise. The
learning rate is scaled in the unit of the batch size (tokens for a token budget, from a base in tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from batchlab.config import Config, make_config, samples_of, token_budget
from batchlab.data.batching import batch_count
from batchlab.errors import ConfigError, DivergenceError
from batchlab.experiment.components import effective_batch_size, resolve_device
from batchlab.experiment.training import train_run
from batchlab.study.budget import Budget
from batchlab.study.callbacks import StopAtTarget, StudyClock
from batchlab.study.memory import measure_peak
from batchlab.study.plan import EpochPlan, epoch_plan
from batchlab.study.sizes import SizeSpec, SizeUnit
from batchlab.train.evaluation import evaluate_batches

if TYPE_CHECKING:
    from rich.console import Console

    from batchlab.data.pipeline import PreparedData
    from batchlab.study.sizes import BatchSize
    from batchlab.study.targets import Target
    from batchlab.train.callbacks import Callback

__all__ = ["CellSettings", "base_batch_of", "cell_config", "cell_name", "run_cell"]


@dataclass(frozen=True)
class CellSettings:
    """What every cell of a study shares besides the config.

    Attributes:
        budget: how long each cell trains; ``None`` keeps the config's ``epochs`` / ``max_steps``.
        lr_rule: ``none``, ``linear`` or ``sqrt``; ``None`` keeps the config's ``train.lr_scaling.rule``.
        base_batch: the effective batch the config's learning rate was set for, in the study's unit:
            samples (an integer) or tokens (``"2048tokens"``); ``None``: the config's
            ``lr_scaling.base_batch_size``, else its own effective batch (see :func:`base_batch_of`).
        warmup: linear warmup per cell (steps, epochs, samples or tokens); ``None`` keeps
            ``train.schedule.warmup_steps``.
        evals_per_epoch: validations per epoch (at least one per optimizer step at most).
        stop_at_target: end a cell at the first evaluation that meets the target.
        early_stopping: keep the config's early stopping (off by default: every cell uses its budget).
    """

    budget: Budget | None = None
    lr_rule: str | None = None
    base_batch: SizeSpec | None = None
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


def base_batch_of(
    config: Config, settings: CellSettings, train_samples: int, *, unit: SizeUnit = "samples", data: Any = None
) -> int:
    """The effective batch the config's learning rate belongs to, in the study's ``unit``.

    ``settings.base_batch`` when given (it must be in ``unit``), else the config's
    ``lr_scaling.base_batch_size``, else its own effective batch; both of the latter are in the unit of
    the config's ``train.batch_size``. When that unit is not the study's (a config in samples studied in
    tokens, or the reverse), the base is converted with the config's own batches: one sample costs the
    mean padded tokens per sample of its epoch plan, the tokens a budget is counted in.

    Args:
        config: the study's config.
        settings: the study's cell settings.
        train_samples: samples in the training split, ``N``.
        unit: the unit of the study's batch sizes.
        data: the prepared data (needed to convert between samples and tokens).

    Raises:
        ConfigError: ``--base-batch`` given in the other unit.
    """
    if settings.base_batch is not None:
        given = settings.base_batch
        budget = token_budget(given)
        if (budget is not None) != (unit == "tokens"):
            example = "2048tokens" if unit == "tokens" else "32"
            raise ConfigError(
                f"--base-batch: {given} is in {'tokens' if budget is not None else 'samples'} but the study's "
                f"batch sizes are in {unit}; give the base in {unit} (e.g. --base-batch {example})"
            )
        return budget if budget is not None else int(given)
    own = effective_batch_size(config)
    own_budget = token_budget(own)
    own_unit: SizeUnit = "tokens" if own_budget is not None else "samples"
    base = config.train.lr_scaling.base_batch_size
    if base is None:
        base = own_budget if own_budget is not None else min(samples_of(own, train_samples), train_samples)
    if own_unit == unit:
        return base
    per_sample = epoch_plan(config, data).padded_per_sample if data is not None else None
    if not per_sample:
        raise ConfigError(
            f"--base-batch: the config's batch size is in {own_unit} but the study's sizes are in {unit}; "
            f"give the base learning-rate batch in {unit} (e.g. --base-batch 2048tokens)"
        )
    return max(1, round(base * per_sample)) if unit == "tokens" else max(1, round(base / per_sample))


def cell_config(
    config: Config,
    size: BatchSize,
    seed: int,
    settings: CellSettings,
    train_samples: int,
    *,
    data: PreparedData | None = None,
) -> Config:
    """The config of one cell (validated).

    Args:
        config: the study's config.
        size: the cell's batch size (samples or a token budget).
        seed: the cell's ``train.seed`` (weights, batch order, dropout; the data split keeps its own seed).
        settings: budget, learning-rate scaling, warmup, evaluation interval.
        train_samples: samples in the training split, ``N``.
        data: the prepared data; with it, steps per epoch come from the cell's real batches (needed for
            text, whose batch count depends on lengths; a token budget needs it).

    Raises:
        ConfigError: a budget or warmup in tokens for data without tokens, or a base batch in the other unit.
    """
    raw = config.model_dump(mode="json")
    train = raw["train"]
    accumulate = config.train.accumulate
    raw["name"] = f"{config.name}-{cell_name(size, seed)}"
    train["batch_size"] = size.spec
    train["seed"] = seed
    first = size.start if size.is_schedule else size.value
    if config.model.norm == "ghost" and size.unit == "samples":
        # A cell whose batch is smaller than a ghost batch normalizes its whole batch (plain batch norm).
        raw["model"]["ghost_batch_size"] = max(2, min(config.model.ghost_batch_size, first))
    plan = _cell_plan(make_config(raw), size, data, train_samples)
    # A samples budget keeps its historical meaning for sizes in samples (B samples per step); a token
    # budget's batches hold varying numbers of samples, so their mean over the epoch is used.
    effective = first * accumulate if size.unit == "samples" else plan.samples_per_step
    budget = settings.budget
    if size.is_schedule:
        budget = _schedule_budget(budget, plan)
    for option, amount in (("--budget", budget), ("--warmup", settings.warmup)):
        if amount is not None and amount.unit == "tokens" and plan.tokens is None:
            raise ConfigError(
                f"{option}: {amount} counts tokens, but this data has no tokens; use epochs, steps or samples"
            )

    def to_steps(amount: Budget) -> int:
        return amount.steps(effective_batch=effective, steps_per_epoch=plan.steps, tokens_per_step=plan.tokens_per_step)

    if budget is not None:
        if budget.unit == "epochs" and budget.amount.is_integer():
            train["epochs"], train["max_steps"] = int(budget.amount), None
        else:
            train["epochs"] = None
            train["max_steps"] = to_steps(budget)
    if size.is_schedule:
        train["batch_schedule"] = _schedule_section(config, size, raw)
    rule = settings.lr_rule or config.train.lr_scaling.rule
    base = base_batch_of(config, settings, train_samples, unit=size.unit, data=data)
    train["lr_scaling"] = {"rule": rule, "base_batch_size": base}
    if settings.warmup is not None:
        warmup = to_steps(settings.warmup)
        train["schedule"]["warmup_steps"] = warmup if settings.warmup.amount > 0 else 0
    train["val_every_steps"] = max(1, plan.steps // max(1, settings.evals_per_epoch))
    if size.is_schedule:  # the size changes: evaluate on a clock of samples, as often as the fixed sizes do
        train["val_every_steps"] = None
        train["val_every_samples"] = max(1, plan.samples // max(1, settings.evals_per_epoch))
    train["checkpoint"] = {"every_steps": None, "every_epochs": None, "every_seconds": None}
    if not settings.early_stopping:
        train["early_stopping"]["enabled"] = False
    return make_config(raw)


def _schedule_budget(budget: Budget | None, plan: EpochPlan) -> Budget | None:
    """A schedule cell's budget in epochs (or steps): samples are converted to whole epochs.

    Raises:
        ConfigError: a budget in samples that is not a whole number of epochs.
    """
    if budget is None or budget.unit in ("epochs", "steps"):
        return budget
    if budget.unit == "samples" and (budget.amount / plan.samples).is_integer():
        return Budget(budget.amount / plan.samples, "epochs")
    raise ConfigError(
        f"--budget: {budget} does not hold whole epochs ({plan.samples:,} samples each); a schedule cell "
        "needs a budget in epochs or steps"
    )


def _schedule_section(config: Config, size: BatchSize, raw: dict[str, Any]) -> dict[str, Any]:
    """``train.batch_schedule`` of a schedule cell: the config's own settings, with the cell's kind and bounds.

    A ramp takes the config's ``over`` (``--set train.batch_schedule.over=2epochs``), else the first half of
    the cell's run; a step rule the config's milestones and factor, else two steps (after a third and two
    thirds of the epochs) of ``sqrt(end / start)`` each.
    """
    own = config.train.batch_schedule
    section = own.model_dump(mode="json")
    section.update(kind=size.schedule, start=size.start, end=size.value)
    if size.schedule == "step" and own.kind != "step":
        epochs = raw["train"]["epochs"] or 3
        section["milestones"] = sorted({max(1, round(epochs / 3)), max(2, round(2 * epochs / 3))})
        section["factor"] = max(1.01, (size.value / size.start) ** (1 / len(section["milestones"])))
    return section


def _cell_plan(config: Config, size: BatchSize, data: PreparedData | None, train_samples: int) -> EpochPlan:
    """The cell's epoch: from its real batches when the data is given, else ``ceil(N / B)``."""
    if data is not None:
        return epoch_plan(config, data)
    if size.unit == "tokens":
        raise ValueError("a cell with a token budget needs the prepared data to plan its batches")
    effective = min((size.start if size.is_schedule else size.value) * config.train.accumulate, train_samples)
    steps = batch_count(train_samples, effective, config.train.drop_last)
    return EpochPlan(steps, train_samples)


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
    size: BatchSize | None = None,
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
        size: the cell's batch size in the study (its unit and, for ``full`` in a token study, its padded
            tokens); default: read from the config.

    Returns:
        The cell's record (JSON-ready): sizes, learning rate, steps, samples, seconds, the evaluation
        curve, final training and validation metrics of the final weights, and peak memory. Text runs add
        ``tokens`` (valid tokens trained on) and ``tokens_per_step``; a token study's cells have
        ``unit: tokens`` and ``token_budget`` (padded tokens per optimizer step).
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
        epoch_samples = int(getattr(parts.train, "num_samples", info["train_samples"]))
    else:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        model_device = device
        stop_reason = f"diverged: {diverged}"
        noise = None
        epoch_samples = int(info["train_samples"])
    peak = memory.result
    train_samples = int(info["train_samples"])
    samples = int(info.get("samples", state_samples(clock)))
    steps = int(info.get("steps", state_steps(clock)))
    return {
        **_size_fields(config, size),
        **_token_fields(clock, steps),
        "diverged": diverged is not None,
        "size": size.label if size is not None and size.is_schedule else _size_text(config),
        **(_schedule_fields(size, info) if size is not None and size.is_schedule else {}),
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
        "steps": steps,
        "samples": samples,
        "epoch_samples": epoch_samples,
        "epochs": samples / max(1, epoch_samples),
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


def _size_text(config: Config) -> str:
    return "full" if config.train.batch_size == "full" else str(config.train.batch_size)


def _schedule_fields(size: BatchSize, info: dict[str, Any]) -> dict[str, Any]:
    """A schedule cell's kind, bounds and every change of size (step, samples, size, reason)."""
    changes = info.get("batch_changes") or []
    final = int(changes[-1]["size"]) if changes else size.start
    return {
        "schedule": size.schedule,
        "schedule_start": size.start,
        "schedule_end": size.value,
        "final_batch": final,
        "batch_changes": changes,
    }


def _size_fields(config: Config, size: BatchSize | None) -> dict[str, Any]:
    """``unit`` and, for a token budget, ``token_budget``: padded tokens per optimizer step."""
    if size is not None and size.unit == "tokens":
        per_step = size.value if size.full else size.value * config.train.accumulate
        return {"unit": "tokens", "token_budget": per_step}
    budget = token_budget(effective_batch_size(config))
    return {"unit": "tokens", "token_budget": budget} if budget is not None else {"unit": "samples"}


def _token_fields(clock: StudyClock, steps: int) -> dict[str, Any]:
    """``tokens`` (valid tokens trained on) and ``tokens_per_step`` of a text run, from its last metrics row."""
    tokens = next((r["tokens"] for r in reversed(clock.rows) if r.get("tokens") is not None), None)
    if tokens is None:
        return {}
    return {"tokens": int(tokens), "tokens_per_step": int(tokens) / max(1, steps)}


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
