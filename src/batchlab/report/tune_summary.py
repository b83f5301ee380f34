"""``batchlab report STUDY_DIR`` for a tuning study: settings, trials, the best trial; redraw the plots."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from rich.console import Console

from batchlab.errors import CheckpointError
from batchlab.plural import counted

__all__ = ["load_trials", "report_tune_study", "rows_from_csv"]

log = logging.getLogger(__name__)

_SHOWN = 30


def report_tune_study(path: str | Path, console: Console) -> None:
    """Print a tuning study's summary and redraw its plots from its storage.

    Reads ``tune.json``; the trials come from the study's storage when it can be opened (the default
    journal file, a file path, or a URL without a password), else from ``trials.csv``, without plots.

    Raises:
        CheckpointError: ``tune.json`` is missing or unreadable.
    """
    from batchlab.tune.results import read_tune_json

    study_dir = Path(path)
    try:
        record = read_tune_json(study_dir)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{study_dir}: cannot read tune.json ({exc.__class__.__name__})") from None
    metric, direction = str(record.get("metric", "value")), str(record.get("direction", "maximize"))
    console.print(f"[bold]{study_dir}[/bold]  study {record.get('study')}  status: {record.get('status')}")
    console.print(_settings_line(record), markup=False, soft_wrap=True)
    loaded = load_trials(study_dir, record)
    if loaded is None:
        rows = rows_from_csv(study_dir / "trials.csv", metric)
        console.print("(the study's storage cannot be opened from here: trials from trials.csv, plots not redrawn)")
        plots: list[Path] = []
    else:
        study, rows = loaded
        from batchlab.tune.plots import draw_plots

        plots = draw_plots(study, study_dir / "plots", metric)
    _print_trials(console, rows, record, metric, direction)
    if (study_dir / "best_config.yaml").is_file():
        console.print(f"Best config: {study_dir / 'best_config.yaml'}", markup=False)
    for plot in plots:
        console.print(f"Plot: {plot}", markup=False)


def _settings_line(record: dict[str, Any]) -> str:
    method = record.get("method")
    sampler = record.get("sampler")
    text = f"{method}" + (f" ({sampler})" if method == "bayes" else "") + f", {record.get('direction')} "
    text += f"{record.get('metric')}, seed {record.get('seed')}"
    if record.get("trials"):
        text += f", {counted(int(record['trials']), 'trial')}"
    if record.get("prune") not in (None, "none"):
        text += f", pruning {record.get('prune')}"
    if record.get("lr_scaling") not in (None, "none"):
        text += f", lr scaling {record.get('lr_scaling')}"
    space = record.get("search_space") or {}
    if space:
        text += "\nspace: " + "; ".join(f"{path} {_kind(spec)}" for path, spec in space.items())
    return text


def _kind(spec: Any) -> str:
    if isinstance(spec, dict) and len(spec) == 1:
        ((kind, values),) = spec.items()
        return f"{kind} {values}"
    return str(spec)


def load_trials(study_dir: Path, record: dict[str, Any]) -> tuple[Any, list[Any]] | None:
    """The Optuna study and its :class:`~batchlab.tune.rows.TrialRow` rows from the storage that
    ``tune.json`` names, or ``None`` when it cannot be opened from here."""
    from batchlab.errors import BatchlabError
    from batchlab.tune.rows import trial_rows
    from batchlab.tune.space import parse_space
    from batchlab.tune.storage import JOURNAL_NAME, open_storage

    storage = record.get("storage")
    if storage is None and not (study_dir / JOURNAL_NAME).is_file():
        return None
    if storage is not None and "***" in str(storage):
        return None
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        opened = open_storage(storage, study_dir)
        study = optuna.load_study(study_name=str(record.get("study")), storage=opened.storage)
        space = parse_space(record.get("search_space") or {}, source="tune.json")
    except (BatchlabError, KeyError, OSError, ValueError) as exc:
        log.warning("cannot open the study's storage: %s", exc)
        return None
    return study, trial_rows(study.get_trials(deepcopy=False), space)


def rows_from_csv(path: Path, metric: str) -> list[Any]:
    """The trials of a ``trials.csv`` as :class:`~batchlab.tune.rows.TrialRow` rows (none without the file)."""
    from batchlab.tune.rows import TrialRow

    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for line in csv.DictReader(handle):
            fixed = {"number", "state", metric, "seconds", "epochs", "best_epoch", "note", "run_dir", "worker"}
            params = {k: v for k, v in line.items() if k not in fixed | {"started", "finished"}}
            rows.append(
                TrialRow(
                    number=int(line["number"]),
                    state=line["state"],
                    value=float(line[metric]) if line.get(metric) else None,
                    params=params,
                    seconds=float(line["seconds"]) if line.get("seconds") else None,
                    note=line.get("note") or "",
                    run_dir=line.get("run_dir") or None,
                    finished=line.get("finished") or None,
                )
            )
    return rows


def _print_trials(console: Console, rows: list[Any], record: dict[str, Any], metric: str, direction: str) -> None:
    from batchlab.tune.rows import best_row
    from batchlab.tune.table import summary_line, trials_table

    paths = list((record.get("search_space") or {}).keys())
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(rows, key=lambda r: (r.value is None, sign * (r.value or 0.0), r.number))
    title = f"trials, best first (the first {_SHOWN} of {len(rows)})" if len(rows) > _SHOWN else "trials, best first"
    console.print(trials_table(ranked[:_SHOWN], paths, metric, direction, title=title, width=console.width))
    console.print(summary_line(rows, metric, direction, record.get("trials")), markup=False, soft_wrap=True)
    best = best_row(rows, direction)
    if best is not None:
        params = ", ".join(f"{path}={value}" for path, value in best.params.items())
        console.print(f"Best: trial {best.number}: {metric} {best.value:.4f}; {params}", markup=False, soft_wrap=True)
        if best.run_dir:
            console.print(f"Best run: {best.run_dir}", markup=False)
