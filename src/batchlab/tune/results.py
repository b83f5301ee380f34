"""The study directory's results: ``tune.json``, ``trials.csv``, ``best_config.yaml``, ``best``, plots.

::

    STUDY_DIR/
      tune.json          the study's settings, state counts and best trial (what `batchlab report` reads)
      trials.csv         one row per trial: number, state, value, parameters, seconds, note, run_dir
      best_config.yaml   the base config with the best trial's values: ready for `batchlab train`
      best -> trials/7   the best trial's run directory (a symlink)
      trials/<number>/   each trial's run directory
      plots/             optimization_history.png, param_importances.png, slice.png
      optuna.journal     the study itself (default storage)

Every file is written atomically, so an interrupted study leaves the previous version in place.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import write_text
from batchlab.config import config_to_yaml
from batchlab.tune.rows import TrialRow, best_row
from batchlab.tune.settings import TuneSettings
from batchlab.tune.trial_config import trial_config

if TYPE_CHECKING:
    import optuna

__all__ = ["TUNE_FILE", "read_tune_json", "settings_record", "write_results", "write_tune_json"]

TUNE_FILE = "tune.json"


def settings_record(settings: TuneSettings, storage_url: str | None) -> dict[str, Any]:
    """The settings part of ``tune.json`` (``storage`` is ``null`` for the default journal file)."""
    return {
        "study": settings.study_name,
        "storage": storage_url,
        "config": settings.config_path,
        "space": settings.space_path,
        "method": settings.method,
        "sampler": settings.sampler_name,
        "seed": settings.seed,
        "metric": settings.metric,
        "direction": settings.direction,
        "trials": settings.trials,
        "timeout": settings.timeout,
        "workers": settings.workers,
        "prune": settings.prune,
        "lr_scaling": settings.lr_scaling,
        "grid_points": settings.grid_points,
        "search_space": settings.space.to_dict(),
    }


def write_tune_json(study_dir: str | Path, record: dict[str, Any]) -> None:
    """Write ``tune.json`` atomically."""
    write_text(Path(study_dir) / TUNE_FILE, json.dumps(record, indent=2, default=str) + "\n")


def read_tune_json(study_dir: str | Path) -> dict[str, Any]:
    """Read ``tune.json``."""
    data: dict[str, Any] = json.loads((Path(study_dir) / TUNE_FILE).read_text(encoding="utf-8"))
    return data


def write_results(
    settings: TuneSettings,
    study: optuna.Study | None,
    rows: Sequence[TrialRow],
    record: dict[str, Any],
    *,
    status: str,
    plots: bool = True,
) -> dict[str, Any]:
    """Write every result file of the study directory; return the final ``tune.json`` record."""
    study_dir = Path(settings.study_dir)
    write_trials_csv(study_dir / "trials.csv", rows, settings.space.paths, settings.metric)
    best = best_row(rows, settings.direction)
    record = {**record, "status": status, "updated": dt.datetime.now().isoformat(timespec="seconds")}
    record["counts"] = {state: sum(r.state == state for r in rows) for state in sorted({r.state for r in rows})}
    record["best"] = None
    if best is not None:
        config = trial_config(settings.config, best.params, settings.lr_scaling)
        header = f"# Best trial {best.number} of study {settings.study_name}: {settings.metric} {best.value:.6g}\n"
        write_text(study_dir / "best_config.yaml", header + config_to_yaml(config))
        run_dir = _link_best(study_dir, best)
        record["best"] = {
            "trial": best.number,
            "value": best.value,
            "params": best.params,
            "epoch": best.best_epoch,
            "run_dir": run_dir,
            "config": "best_config.yaml",
        }
    if plots and study is not None:
        from batchlab.tune.plots import draw_plots

        record["plots"] = [
            str(p.relative_to(study_dir)) for p in draw_plots(study, study_dir / "plots", settings.metric)
        ]
    write_tune_json(study_dir, record)
    return record


def write_trials_csv(path: Path, rows: Sequence[TrialRow], paths: Sequence[str], metric: str) -> None:
    """One row per trial; parameters as columns named by their config path (lists as JSON)."""
    columns = ["number", "state", metric, *paths, "seconds", "epochs", "best_epoch", "note", "run_dir", "worker"]
    columns += ["started", "finished"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = [
            json.dumps(row.params[p]) if isinstance(row.params.get(p), (list, dict)) else row.params.get(p)
            for p in paths
        ]
        writer.writerow(
            [
                row.number,
                row.state,
                row.value,
                *values,
                _round(row.seconds),
                row.epochs,
                row.best_epoch,
                row.note,
                row.run_dir,
                row.worker,
                row.started,
                row.finished,
            ]
        )
    write_text(path, out.getvalue())


def _link_best(study_dir: Path, best: TrialRow) -> str | None:
    """Point ``STUDY_DIR/best`` at the best trial's run directory, when it is on this machine."""
    target = Path("trials") / str(best.number)
    if not (study_dir / target).is_dir():
        return best.run_dir
    link = study_dir / "best"
    tmp = study_dir / f".best.{os.getpid()}.tmp"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)  # atomic: readers see the old link or the new one
    except OSError:  # e.g. `best` became a real folder (a study copied without its links)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return str(study_dir / target)
    return str(study_dir / target)


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
