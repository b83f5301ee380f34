"""The batch-size sweep: one run per (batch size, seed) into ``STUDY_DIR/runs/b<size>-s<seed>/``, resumable.

Example:
    >>> from batchlab.config import load_config
    >>> from batchlab.study import BatchSizeStudy, parse_sizes, parse_target, run_batch_size_study
    >>> cells = run_batch_size_study(
    ...     load_config("configs/digits.yaml"),
    ...     BatchSizeStudy(sizes=tuple(parse_sizes("8,32,128,full")), seeds=(0, 1, 2),
    ...                    target=parse_target("val_accuracy=0.95")),
    ...     "studies/digits",
    ... )  # doctest: +SKIP

A text config can be swept in samples or in token budgets (``parse_sizes("512tokens,2048tokens")``); a
study is in one unit, and token budgets need text data.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.config import make_config
from batchlab.data.pipeline import prepare_data
from batchlab.errors import ConfigError
from batchlab.plural import counted
from batchlab.study.cell import CellSettings, cell_config, cell_name, run_cell
from batchlab.study.directory import StudyDirectory, fingerprint, without_unused_norm_fields
from batchlab.study.plan import EpochPlan, epoch_plan, has_tokens
from batchlab.study.sizes import BatchSize, SizeSpec, SizeUnit, resolve_sizes, size_unit

if TYPE_CHECKING:
    from rich.console import Console

    from batchlab.config import Config
    from batchlab.data.pipeline import PreparedData
    from batchlab.study.targets import Target

__all__ = ["BatchSizeStudy", "available_metrics", "full_batch_plan", "run_batch_size_study"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSizeStudy:
    """What to sweep.

    Attributes:
        sizes: batch sizes: integers in samples, token budgets such as ``"512tokens"`` (text), or
            ``"full"``; one unit per study; clipped to the training split.
        seeds: ``train.seed`` of each repetition.
        target: the metric value whose steps, samples and seconds to first reach are measured.
        settings: budget, learning-rate scaling, warmup and evaluation interval shared by all cells.
    """

    sizes: tuple[SizeSpec, ...]
    seeds: tuple[int, ...] = (0,)
    target: Target | None = None
    settings: CellSettings = field(default_factory=CellSettings)


def available_metrics(data: PreparedData) -> list[str]:
    """Names a target can use for this data: training and (with a validation split) validation metrics."""
    classification = data.task != "regression"
    names = ["train_loss"] + (["train_accuracy"] if classification else [])
    if data.val is not None and len(data.val):
        names += ["val_loss"] + (["val_accuracy"] if classification else ["val_mse", "val_mae", "val_r2"])
    return names


def full_batch_plan(config: Config, data: PreparedData) -> EpochPlan:
    """The epoch of one batch holding the whole training split: its samples (windows for a language
    model) are ``N``, its padded tokens the largest token budget that still changes anything."""
    raw = config.model_dump(mode="json")
    raw["train"].update(batch_size="full", accumulate=1)
    return epoch_plan(make_config(raw), data)


def run_batch_size_study(
    config: Config,
    study: BatchSizeStudy,
    study_dir: str | Path,
    *,
    progress: bool = False,
    console: Console | None = None,
    command: str | None = None,
) -> list[dict[str, Any]]:
    """Train every (batch size, seed) cell that has not finished yet, and return all finished cells.

    Everything a user can get wrong (sizes, target metric, budget, config) is checked before the first
    run starts. A cell's record is written when its run ends; a cell killed half-way is trained again.

    Args:
        config: the study's config (batch size and seed are replaced per cell).
        study: sizes, seeds, target and the shared cell settings.
        study_dir: the study directory (created if needed; an existing study there is continued).
        progress: show each run's progress bar and table.
        console: where one line per cell is printed (nothing without one).
        command: the command line, recorded in ``study.json``.

    Returns:
        The records of all finished cells in the directory (see :func:`batchlab.study.cell.run_cell`).

    Raises:
        ConfigError: a size, seed, target or setting is invalid (token budgets on data without text among
            them), or the directory holds another study.
        DataError: the data cannot be loaded.
    """
    if not study.seeds:
        raise ConfigError("--seeds: at least one seed is needed")
    unit = size_unit(study.sizes)
    data = prepare_data(config.data)
    full = full_batch_plan(config, data)
    train_samples = full.samples
    sizes = resolve_sizes(study.sizes, train_samples, full_tokens=full.padded_tokens if has_tokens(data) else None)
    if study.target is not None and study.target.metric not in available_metrics(data):
        raise ConfigError(
            f"--target: {study.target.metric!r} is not a metric of this data; "
            f"available: {', '.join(available_metrics(data))}"
        )
    _check_batch_norm_sizes(config, sizes)
    cells = [(size, seed) for size in sizes for seed in study.seeds]
    configs = {
        cell_name(s, seed): cell_config(config, s, seed, study.settings, train_samples, data=data) for s, seed in cells
    }
    directory = StudyDirectory(study_dir)
    with directory.lock():  # one process at a time runs a study directory
        directory.open(_study_record(config, study, sizes, train_samples, command, unit, full))
        say = console.print if console is not None else (lambda *a, **k: None)
        tokens = f" ({full.tokens:,} tokens)" if full.tokens is not None else ""
        say(
            f"Study: {counted(len(sizes), 'batch size')}{' in tokens' if unit == 'tokens' else ''} x "
            f"{counted(len(study.seeds), 'seed')} = {counted(len(cells), 'cell')} on "
            f"{counted(train_samples, 'training sample')}{tokens} -> {directory.path}"
        )
        for number, (size, seed) in enumerate(cells, start=1):
            name = cell_name(size, seed)
            prefix = f"[{number}/{len(cells)}] {name}"
            if directory.cell(name) is not None:
                say(f"{prefix}: finished earlier, skipped")
                continue
            if directory.clear(name):
                say(f"{prefix}: unfinished run found, training it again")
            record = run_cell(
                configs[name],
                directory.run_dir(name),
                data,
                target=study.target,
                stop_at_target=study.settings.stop_at_target,
                progress=progress,
                console=console,
                size=size,
            )
            directory.write_cell(name, record)
            say(f"{prefix}: {_cell_line(record, size, study.target)}")
        return directory.cells()


def _check_batch_norm_sizes(config: Config, sizes: list[BatchSize]) -> None:
    """Batch norm (and ghost batch norm) cannot train on batches of one sample: refuse before any cell runs."""
    fields = config.model.batch_norm_fields
    if fields is None:
        return
    for size in sizes:
        first = size.start if size.is_schedule else size.value
        if size.unit == "samples" and first < 2:
            raise ConfigError(
                f"--sizes: batch size {first} is too small for batch normalization ({fields}), which needs "
                "at least 2 samples per batch; leave it out, or use model.norm: group, layer or none"
            )


def _study_record(
    config: Config,
    study: BatchSizeStudy,
    sizes: list[BatchSize],
    train_samples: int,
    command: str | None,
    unit: SizeUnit,
    full: EpochPlan,
) -> dict[str, Any]:
    shared_config = without_unused_norm_fields(config.model_dump(mode="json"))
    shared_config.pop("name", None)
    shared_config["train"].pop("batch_size", None)
    shared_config["train"].pop("seed", None)
    shared: dict[str, Any] = {"config": shared_config, "settings": study.settings.to_dict()}
    if unit == "tokens":
        # Only token studies name their unit, so that sample studies keep their earlier fingerprint.
        shared["unit"] = unit
    target = study.target
    tokens = {"train_tokens": full.tokens} if full.tokens is not None else {}
    return {
        "kind": "batch-size",
        "version": 1,
        "name": config.name,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "train_samples": train_samples,
        **tokens,
        "unit": unit,
        "sizes": [s.label for s in sizes],
        "seeds": list(study.seeds),
        "target": {"metric": target.metric, "value": target.value, "mode": target.mode} if target else None,
        "config": config.model_dump(mode="json"),
        "shared": shared,
        "fingerprint": fingerprint(shared),
    }


def _cell_line(record: dict[str, Any], size: BatchSize, target: Target | None) -> str:
    from batchlab.study.targets import first_reached

    parts = [f"{counted(record['steps'], 'step')} ({record['steps_per_epoch']}/epoch), lr {record['lr']:.4g}"]
    if target is not None:
        hit = first_reached(record["curve"], target, time_key="train_seconds")
        if hit is None:
            parts.append(f"{target} not reached")
        else:
            if size.unit == "tokens" and hit.tokens is not None:
                amount = counted(hit.tokens, "token")
            else:
                amount = counted(hit.samples, "sample")
            parts.append(f"{target} at step {hit.step} ({amount}, {hit.seconds:.2f} s)")
    final = record["final"]
    metric = target.metric if target is not None else next((k for k in ("val_accuracy", "val_r2") if k in final), None)
    if metric and metric in final:
        parts.append(f"final {metric} {final[metric]:.4f}")
    if size.is_schedule:
        parts.append(f"batch {size.start} -> {record.get('final_batch', size.start)}")
    parts.append(f"{record['train_seconds']:.1f} s")
    return "; ".join(parts)
