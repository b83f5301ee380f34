"""The learning-rate range test of a config: a short run that raises the rate step by step.

:func:`run_lr_find` builds the config's run (data, batches of its effective batch, model, objective,
optimizer, precision, accumulation, clipping; data parallelism under ``torchrun``) with the run builder,
then trains it through the training loop for ``steps + 1`` optimizer steps on consecutive training batches,
one rate per step from ``min_lr`` to ``max_lr`` (:class:`~batchlab.lr_range.recorder.RangeRecorder`), and
reads the suggestions off the smoothed loss (:mod:`batchlab.lr_range.curve`).

The run starts from the config's initial weights (the same seed gives the same weights as ``batchlab
train``; a module passed as ``model`` is copied first) and its weights are thrown away afterwards: the
user's model and run directories are left as they were. Nothing is written unless ``run_dir`` is given.

What the config says that the test overrides: the schedule (the test sets every step's rate), the
learning-rate scaling rule (the rates are used as they are, at the config's own batch), epochs, steps,
validation, early stopping, checkpoints and the NaN policy (a loss that is not finite ends the test).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.config import Config, config_to_yaml, make_config, resolve_data_paths, token_budget
from batchlab.errors import ConfigError, did_you_mean
from batchlab.lr_range.curve import MODES, RULES, Suggestion, rate_grid, suggest
from batchlab.lr_range.recorder import RangeRecorder
from batchlab.plural import counted

if TYPE_CHECKING:
    import torch

    from batchlab.data.pipeline import PreparedData
    from batchlab.experiment.builder import RunParts
    from batchlab.train.callbacks import Callback

__all__ = ["MIN_STEPS", "LRFindResult", "RangeSettings", "range_notes", "run_lr_find", "run_range_test"]

MIN_STEPS = 10
"""The fewest rates a range test accepts: fewer give no curve to read."""


@dataclass(frozen=True)
class RangeSettings:
    """How a range test sweeps the rate (validated when built: every mistake is a one-line ``ConfigError``).

    Attributes:
        min_lr: the first rate (``--min``).
        max_lr: the last rate (``--max``), above ``min_lr``.
        steps: rates tried, one optimizer step each (``--steps``, at least 10).
        mode: ``exp`` (rates evenly spaced in their logarithm) or ``linear`` (``--mode``).
        smooth: ``beta`` of the bias-corrected moving average of the loss, in ``[0, 1)`` (``--smooth``).
        diverge: the test stops when the smoothed loss exceeds this multiple (> 1) of its lowest value
            (``--diverge``).
    """

    min_lr: float = 1e-7
    max_lr: float = 10.0
    steps: int = 100
    mode: str = "exp"
    smooth: float = 0.98
    diverge: float = 4.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_lr) and self.min_lr > 0):
            raise ConfigError(f"--min: the first learning rate must be a positive number, got {self.min_lr:g}")
        if not math.isfinite(self.max_lr) or self.min_lr >= self.max_lr:
            raise ConfigError(
                f"--min {self.min_lr:g} is not below --max {self.max_lr:g}; the range test raises the rate "
                "from --min to --max (e.g. --min 1e-7 --max 10)"
            )
        if self.steps < MIN_STEPS:
            raise ConfigError(
                f"--steps: {self.steps} is too few; a range test needs at least {MIN_STEPS} rates to draw a "
                "curve (default 100)"
            )
        if self.mode not in MODES:
            raise ConfigError(f"--mode: unknown spacing {self.mode!r}; {did_you_mean(self.mode, MODES)}")
        if not 0.0 <= self.smooth < 1.0:
            raise ConfigError(f"--smooth: expected a weight in [0, 1) (0: no smoothing), got {self.smooth:g}")
        if not self.diverge > 1.0:
            raise ConfigError(
                f"--diverge: expected a factor above 1 (the test stops when the smoothed loss exceeds it times "
                f"its lowest value), got {self.diverge:g}"
            )

    @property
    def skip(self) -> int:
        """Points at the start not searched for the steepest descent: a tenth of the rates."""
        return self.steps // 10

    def rates(self) -> list[float]:
        """The rate of each step (see :func:`~batchlab.lr_range.curve.rate_grid`)."""
        return rate_grid(self.min_lr, self.max_lr, self.steps, self.mode)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_rule(rule: str) -> str:
    """``rule`` if it names a suggestion rule (``steepest`` or ``min10``).

    Raises:
        ConfigError: another name.
    """
    if rule not in RULES:
        raise ConfigError(f"--rule: unknown rule {rule!r}; {did_you_mean(rule, RULES)}")
    return rule


@dataclass
class LRFindResult:
    """A finished range test.

    Attributes:
        rates: the rate of each recorded point (those of the steps taken before the test stopped).
        losses: the training loss after the step at each rate, on the next batch (the mean over the
            effective batch, across data-parallel workers).
        smoothed: the bias-corrected moving average of ``losses``.
        samples: training samples consumed (all workers) up to the step that measured each loss.
        initial_loss: the loss of the initial weights on the first batch.
        suggestion: both suggestions and the lowest point of the smoothed curve.
        rule: the rule whose suggestion :attr:`suggested_lr` returns (``steepest`` or ``min10``).
        stop_reason: why the test ended (divergence, or the last rate reached).
        diverged: whether it ended by divergence.
        settings: the sweep.
        notes: what the config asked that the test ignored, batches repeated, doubtful curves.
        info: batch, batches per epoch, epochs run, samples, optimizer, precision, workers, seconds.
        config: the config (data paths as given).
        run_dir: where the files were written, if anywhere.
    """

    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    samples: list[int]
    initial_loss: float | None
    suggestion: Suggestion
    rule: str
    stop_reason: str
    diverged: bool
    settings: RangeSettings
    notes: list[str]
    info: dict[str, Any]
    config: Config
    run_dir: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def suggested_lr(self) -> float | None:
        """The suggestion of :attr:`rule`, or ``None`` when the curve gives none."""
        return self.suggestion.rate(self.rule)

    def applied_config(self, rule: str | None = None) -> Config:
        """The config with ``train.optimizer.lr`` set to the suggestion of ``rule`` (default :attr:`rule`).

        When the config scales the rate with the batch size (``train.lr_scaling.rule`` other than
        ``none``), ``lr_scaling.base_batch_size`` becomes this test's effective batch, for which the rate
        was measured, so the run at this batch uses exactly the suggested rate.

        Raises:
            ConfigError: the rule gives no rate for this curve.
        """
        rule = check_rule(rule or self.rule)
        rate = self.suggestion.rate(rule)
        if rate is None:
            raise ConfigError(f"--apply: the {RULES[rule]} gives no rate for this curve ({self.stop_reason})")
        raw = self.config.model_dump(mode="json")
        raw["train"]["optimizer"]["lr"] = float(f"{rate:.3g}")
        if raw["train"]["lr_scaling"]["rule"] != "none":
            raw["train"]["lr_scaling"]["base_batch_size"] = int(self.info["lr_batch"])
        return make_config(raw)

    def to_dict(self) -> dict[str, Any]:
        """Everything ``lr_find.json`` holds (non-finite losses as ``None``)."""
        return {
            "kind": "lr-find",
            "version": 1,
            "name": self.config.name,
            "status": "finished",
            "settings": self.settings.to_dict(),
            "rule": self.rule,
            "suggested_lr": self.suggested_lr,
            "suggestions": self.suggestion.to_dict(),
            "initial_loss": _finite(self.initial_loss),
            "stop_reason": self.stop_reason,
            "diverged": self.diverged,
            "points": len(self.rates),
            "curve": {
                "lr": self.rates,
                "loss": [_finite(x) for x in self.losses],
                "smoothed": [_finite(x) for x in self.smoothed],
            },
            "notes": self.notes,
            "info": self.info,
            "config": self.config.model_dump(mode="json"),
        }


def run_lr_find(
    config: Config,
    settings: RangeSettings | None = None,
    *,
    rule: str = "min10",
    model: torch.nn.Module | None = None,
    data: PreparedData | None = None,
    run_dir: str | Path | None = None,
    apply: bool = False,
    callbacks: Iterable[Callback] = (),
) -> LRFindResult:
    """Run a range test of ``config`` and return its curve and suggestions.

    Under ``torchrun`` every worker calls this; the loss of each step is the mean over the global batch,
    so all workers record the same curve, and rank 0's result (identical) is the one returned everywhere
    and the only one written.

    Args:
        config: the validated config (its batch size, accumulation, optimizer, model and precision).
        settings: the sweep (default: 100 rates from 1e-7 to 10, exponential).
        rule: the suggestion :attr:`LRFindResult.suggested_lr` returns and ``apply`` writes.
        model: a module to test instead of the config's model; a deep copy is trained, ``model`` is not
            touched.
        data: the prepared data of ``config.data`` (a study prepares it once).
        run_dir: write ``lr_find.csv``, ``lr_find.json`` (and with ``apply`` ``lr_find_config.yaml``) into
            this folder: a new or empty one, an earlier range test's, or a run directory (its own files
            are left alone). ``None`` writes nothing.
        apply: write ``lr_find_config.yaml``, the config with the suggested rate (needs ``run_dir``).
        callbacks: extra loop callbacks (progress display).

    Raises:
        ConfigError: a bad setting or rule, or a mistake in the config (before anything is written).
        DataError: the data cannot be loaded.
    """
    from batchlab.experiment.builder import build_run
    from batchlab.lr_range.files import RangeDirectory
    from batchlab.train.distributed import (
        DistributedInfo,
        broadcast_object,
        finish_distributed,
        init_distributed,
    )

    settings = settings or RangeSettings()
    rule = check_rule(rule)
    if apply and run_dir is None:
        raise ConfigError("--apply needs a folder to write the config into (run_dir)")
    workers = DistributedInfo.from_env()
    init_distributed(workers)
    directory = RangeDirectory(run_dir) if run_dir is not None else None
    try:
        resolved, _ = resolve_data_paths(config)
        if directory is not None:
            _agree(directory.prepare, workers.enabled, workers.is_main)
        copied = copy.deepcopy(model) if model is not None else None
        parts = build_run(resolved, model=copied, data=data, workers=workers)
        started = time.perf_counter()
        recorder, state = run_range_test(parts, settings, callbacks=callbacks)
        seconds = time.perf_counter() - started
        agreed = _workers_agree(recorder, settings) if workers.enabled else None
        # Every worker recorded the same curve (losses are means over the global batch): rank 0's is used.
        curve = (recorder.losses, recorder.smoothed, recorder.samples, recorder.initial_loss, state.stop_reason)
        losses, smoothed, samples, initial, reason = broadcast_object(curve)
        rates = settings.rates()[: len(losses)]
        found = suggest(rates, smoothed, skip=settings.skip)
        notes = [*range_notes(config, parts, settings), *found.notes]
        info = _info(config, parts, settings, state, seconds, len(losses))
        del parts  # its data-parallel wrapper holds the process group, destroyed below (finally)
        if agreed is not None:
            info["workers_agreed"] = agreed
        result = LRFindResult(
            rates=rates,
            losses=losses,
            smoothed=smoothed,
            samples=samples,
            initial_loss=initial,
            suggestion=found,
            rule=rule,
            stop_reason=str(reason or ""),
            diverged=recorder.diverged_at is not None,
            settings=settings,
            notes=notes,
            info=info,
            config=config,
            run_dir=directory.path if directory is not None else None,
        )
        if directory is not None and workers.is_main:
            result.files = directory.write(result)
            if apply and result.suggested_lr is not None:
                result.files.append(directory.write_config(config_to_yaml(result.applied_config())))
        return result
    except BaseException:
        if directory is not None and workers.is_main:
            directory.abandon()
        raise
    finally:
        finish_distributed()


def run_range_test(
    parts: RunParts, settings: RangeSettings, *, callbacks: Iterable[Callback] = ()
) -> tuple[RangeRecorder, Any]:
    """Train ``parts`` through the loop, one rate per step, until the last rate or divergence.

    Returns:
        The recorder (losses, smoothed losses, initial loss) and the loop's final state.
    """
    from batchlab.train.loop import fit

    rates = settings.rates()
    recorder = RangeRecorder(rates, smooth=settings.smooth, diverge=settings.diverge)
    loop = dataclasses.replace(parts.settings, epochs=None, max_steps=len(rates) + 1, val_every_steps=None)
    state = fit(
        parts.model,
        parts.train,
        objective=parts.objective,
        optimizer=parts.optimizer,
        scheduler=None,
        val=None,
        settings=loop,
        callbacks=[recorder, *callbacks],
        info={**parts.info, "range_steps": len(rates)},
    )
    return recorder, state


def range_notes(config: Config, parts: RunParts, settings: RangeSettings) -> list[str]:
    """What the test ignores in the config, and how often it goes round the training batches."""
    notes = []
    schedule = config.train.schedule
    if schedule.name != "constant" or schedule.warmup_steps:
        warmup = f", {counted(schedule.warmup_steps, 'warmup step')}" if schedule.warmup_steps else ""
        notes.append(
            f"train.schedule ({schedule.name}{warmup}) is ignored: the range test sets the rate of every step itself"
        )
    scaling = config.train.lr_scaling
    if scaling.rule != "none":
        notes.append(
            f"train.lr_scaling ({scaling.rule}) is ignored during the test: each rate is used as it is at this "
            f"batch ({_batch_text(config, parts)})"
        )
    per_epoch = parts.train.batches_in_epoch(0)
    needed = settings.steps + 1
    if needed > per_epoch:
        notes.append(
            f"the test's {counted(needed, 'step')} (one per rate, plus the first loss) take "
            f"{needed / per_epoch:.1f} epochs of {counted(per_epoch, 'batch')}: batches repeat, reshuffled at "
            "each epoch"
        )
    if config.train.precision == "fp16":
        notes.append(
            "fp16: a step whose gradients overflow is skipped by the gradient scaler (its rate is not applied)"
        )
    return notes


def _batch_text(config: Config, parts: RunParts) -> str:
    budget = token_budget(config.train.batch_size)
    effective = int(parts.info["effective_batch"])
    if budget is not None:
        return f"a budget of {budget * config.train.accumulate:,} tokens"
    return f"{counted(effective, 'sample')} per step"


def _info(
    config: Config, parts: RunParts, settings: RangeSettings, state: Any, seconds: float, points: int
) -> dict[str, Any]:
    optimizer = config.train.optimizer
    budget = token_budget(config.train.batch_size)
    effective = int(parts.info["effective_batch"])
    lr_batch = budget * config.train.accumulate if budget is not None else effective
    hyper: dict[str, Any] = {"name": optimizer.name, "weight_decay": optimizer.weight_decay}
    if optimizer.name in ("sgd", "rmsprop"):
        hyper["momentum"] = optimizer.momentum
    if optimizer.name == "sgd":
        hyper["nesterov"] = optimizer.nesterov
    if optimizer.name in ("adam", "adamw"):
        hyper["betas"] = list(optimizer.betas)
    per_epoch = parts.train.batches_in_epoch(0)
    return {
        "effective_batch": effective,
        "token_budget": budget * config.train.accumulate if budget is not None else None,
        "lr_batch": lr_batch,
        "batch_unit": "tokens" if budget is not None else "samples",
        "accumulate": config.train.accumulate,
        "batches_per_epoch": per_epoch,
        "steps": int(state.step),
        "points": points,
        "epochs": round(state.step / per_epoch, 3),
        "samples": int(state.samples),
        "optimizer": hyper,
        "precision": config.train.precision,
        "grad_clip": config.train.grad_clip,
        "model": parts.info.get("model"),
        "parameters": parts.info.get("parameters"),
        "loss": parts.info.get("loss"),
        "device": parts.info.get("device"),
        "world_size": parts.workers.world_size,
        "seed": config.train.seed,
        "seconds": round(seconds, 3),
    }


def _workers_agree(recorder: RangeRecorder, settings: RangeSettings) -> bool:
    """Whether every worker's own curve gives the same suggestions (a check: each records the global mean)."""
    from batchlab.train.distributed import all_gather_object

    own = suggest(settings.rates()[: len(recorder.losses)], recorder.smoothed, skip=settings.skip)
    everyone = all_gather_object((len(recorder.losses), own.steepest, own.minimum_tenth))
    return all(mine == everyone[0] for mine in everyone)


def _agree(action: Any, distributed: bool, is_main: bool) -> None:
    """Run ``action`` on rank 0; every rank raises rank 0's ``ConfigError``, if it raised one."""
    from batchlab.errors import BatchlabError
    from batchlab.train.distributed import broadcast_object

    if not distributed:
        action()
        return
    error = None
    if is_main:
        try:
            action()
        except BatchlabError as exc:
            error = str(exc)
    error = broadcast_object(error)
    if error is not None:
        raise ConfigError(error)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
