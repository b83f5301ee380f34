"""The best learning rate as a function of the batch size: a range test per (batch size, seed), resumable.

::

    STUDY_DIR/
      study.json             kind lr-vs-batch: config, sweep, sizes, seeds, rule
      runs/b32-s0/           a range test's folder: lr_find.csv, lr_find.json (written last: the cell is done)
      results.csv/.json, plots/lr_vs_batch.png   written by ``batchlab report STUDY_DIR``

Each cell runs :func:`~batchlab.lr_range.range_test.run_lr_find` on the config with ``train.batch_size``
and ``train.seed`` replaced (accumulation, precision and the rest kept), all cells sharing the prepared
data and one sweep of rates. The exponent of the best rate against the batch is fitted by
:mod:`batchlab.study.lr_exponent`. Re-running the study skips finished cells and runs unfinished ones
again; its sweep and config (apart from batch size and seed) must match the study already there, and new
sizes and seeds may be added.

Example:
    >>> from batchlab.config import load_config
    >>> from batchlab.study.lr_batch import LRBatchStudy, run_lr_batch_study
    >>> from batchlab.study.sizes import parse_sizes
    >>> cells = run_lr_batch_study(
    ...     load_config("configs/study-digits.yaml"),
    ...     LRBatchStudy(sizes=tuple(parse_sizes("8,32,128,512")), seeds=(0, 1, 2)),
    ...     "studies/digits-lr",
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.config import make_config
from batchlab.errors import ConfigError
from batchlab.lr_range.curve import RULES
from batchlab.lr_range.files import JSON_FILE, RangeDirectory
from batchlab.lr_range.range_test import RangeSettings, check_rule, run_lr_find
from batchlab.plural import counted
from batchlab.study.directory import StudyDirectory, fingerprint, without_unused_norm_fields
from batchlab.study.sizes import BatchSize, SizeSpec, resolve_sizes, size_unit

if TYPE_CHECKING:
    from rich.console import Console

    from batchlab.config import Config

__all__ = ["KIND", "LRBatchStudy", "cell_records", "run_lr_batch_study"]

KIND = "lr-vs-batch"


@dataclass(frozen=True)
class LRBatchStudy:
    """What to sweep.

    Attributes:
        sizes: batch sizes in samples, ``full``, or token budgets (``"512tokens"``, text only); one unit.
        seeds: ``train.seed`` of each repetition (weights, batch order, dropout).
        settings: the range test's sweep, the same at every size.
        rule: the suggestion fitted against the batch size (``steepest`` or ``min10``); both are kept.
    """

    sizes: tuple[SizeSpec, ...]
    seeds: tuple[int, ...] = (0,)
    settings: RangeSettings = field(default_factory=RangeSettings)
    rule: str = "min10"


def run_lr_batch_study(
    config: Config,
    study: LRBatchStudy,
    study_dir: str | Path,
    *,
    console: Console | None = None,
    command: str | None = None,
) -> list[dict[str, Any]]:
    """Run the range test of every (batch size, seed) cell not finished yet; return every finished cell.

    Args:
        config: the study's config (batch size and seed are replaced per cell).
        study: sizes, seeds, the sweep and the rule.
        study_dir: the study directory (created if needed; an existing study there is continued).
        console: where one line per cell is printed (nothing without one).
        command: the command line, recorded in ``study.json``.

    Returns:
        The ``lr_find.json`` records of all finished cells, each with ``cell``, ``batch`` (the effective
        batch in the study's unit), ``batch_label`` and ``seed`` added.

    Raises:
        ConfigError: bad sizes, seeds, rule or sweep, or the directory holds another study.
        DataError: the data cannot be loaded.
    """
    from batchlab.data.pipeline import prepare_data
    from batchlab.study.batch_size import full_batch_plan
    from batchlab.study.cell import cell_name
    from batchlab.study.plan import has_tokens

    check_rule(study.rule)
    if not study.seeds:
        raise ConfigError("--seeds: at least one seed is needed")
    unit = size_unit(study.sizes)
    data = prepare_data(config.data)
    full = full_batch_plan(config, data)
    sizes = resolve_sizes(study.sizes, full.samples, full_tokens=full.padded_tokens if has_tokens(data) else None)
    if len(sizes) < 2:
        raise ConfigError(
            f"--sizes: {', '.join(str(s) for s in study.sizes)} resolve to {counted(len(sizes), 'batch size')} on "
            f"{counted(full.samples, 'training sample')} (a size at or above the split is full); an exponent needs "
            "at least two"
        )
    cells = [(size, seed) for size in sizes for seed in study.seeds]
    configs = {cell_name(size, seed): _cell_config(config, size, seed) for size, seed in cells}
    directory = StudyDirectory(study_dir)
    directory.open(_study_record(config, study, sizes, full.samples, unit, command))
    say = console.print if console is not None else (lambda *a, **k: None)
    say(
        f"Study: range tests at {counted(len(sizes), 'batch size')}{' in tokens' if unit == 'tokens' else ''} x "
        f"{counted(len(study.seeds), 'seed')} = {counted(len(cells), 'cell')}, "
        f"{study.settings.steps} rates from {study.settings.min_lr:g} to {study.settings.max_lr:g} each -> "
        f"{directory.path}",
        soft_wrap=True,
    )
    for number, (size, seed) in enumerate(cells, start=1):
        name = cell_name(size, seed)
        prefix = f"[{number}/{len(cells)}] {name}"
        if _finished(directory, name):
            say(f"{prefix}: finished earlier, skipped")
            continue
        if directory.clear(name):
            say(f"{prefix}: unfinished range test found, running it again")
        result = run_lr_find(configs[name], study.settings, rule=study.rule, data=data, run_dir=directory.run_dir(name))
        found = result.suggestion
        rates = ", ".join(f"{key} {_rate(found.rate(key))}" for key in RULES)
        end = f"diverged at lr {result.rates[-1]:.3g}" if result.diverged else "did not diverge"
        say(f"{prefix}: {rates} ({counted(len(result.rates), 'point')}, {end}); {result.info['seconds']:.1f} s")
    return cell_records(directory.path)


def cell_records(study_dir: str | Path) -> list[dict[str, Any]]:
    """The finished cells' ``lr_find.json`` records, by batch then seed, with ``cell``, ``batch``,
    ``batch_label`` and ``seed`` added."""
    directory = StudyDirectory(study_dir)
    if not directory.runs.is_dir():
        return []
    records = []
    for path in sorted(p for p in directory.runs.iterdir() if p.is_dir()):
        if not _finished(directory, path.name):
            continue
        record = RangeDirectory(path).read()
        info = record.get("info", {})
        label = path.name.removeprefix("b").rsplit("-s", 1)[0]
        records.append(
            {**record, "cell": path.name, "batch": info["lr_batch"], "batch_label": label, "seed": info["seed"]}
        )
    return sorted(records, key=lambda r: (float(r["batch"]), int(r["seed"])))


def _finished(directory: StudyDirectory, name: str) -> bool:
    file = directory.run_dir(name) / JSON_FILE
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(value, dict) and value.get("kind") == "lr-find" and value.get("status") == "finished"


def _cell_config(config: Config, size: BatchSize, seed: int) -> Config:
    from batchlab.study.cell import cell_name

    raw = config.model_dump(mode="json")
    raw["name"] = f"{config.name}-{cell_name(size, seed)}"
    raw["train"]["batch_size"] = size.spec
    raw["train"]["seed"] = seed
    return make_config(raw)


def _study_record(
    config: Config,
    study: LRBatchStudy,
    sizes: list[BatchSize],
    train_samples: int,
    unit: str,
    command: str | None,
) -> dict[str, Any]:
    shared_config = without_unused_norm_fields(config.model_dump(mode="json"))
    shared_config.pop("name", None)
    shared_config["train"].pop("batch_size", None)
    shared_config["train"].pop("seed", None)
    shared = {"config": shared_config, "range": study.settings.to_dict(), "unit": unit}
    return {
        "kind": KIND,
        "version": 1,
        "name": config.name,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "train_samples": train_samples,
        "unit": unit,
        "sizes": [s.label for s in sizes],
        "seeds": list(study.seeds),
        "rule": study.rule,
        "range": study.settings.to_dict(),
        "config": config.model_dump(mode="json"),
        "shared": shared,
        "fingerprint": fingerprint(shared),
    }


def _rate(rate: float | None) -> str:
    return "none" if rate is None else f"{rate:.3g}"
