"""``batchlab report RUN_DIR``: print a run's summary and redraw its plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from rich.console import Console

from batchlab.experiment.rundir import RunDirectory
from batchlab.report.plots import plot_learning_curves
from batchlab.report.tables import confusion_table, metrics_table

__all__ = ["read_metrics_csv", "report_path", "report_run"]


def read_metrics_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``metrics.csv`` with numbers parsed (empty cells become ``None``)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def report_path(path: str | Path, console: Console) -> None:
    """Report whatever ``path`` holds: a run directory, a batch-size study or a tuning study.

    A run directory has ``run.json``; a batch-size study ``study.json``; a tuning study ``tune.json``.
    """
    from batchlab.errors import CheckpointError

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{str(path)!r} does not exist or is not a directory")
    if (path / "study.json").exists():
        from batchlab.report.study_summary import report_batch_size_study

        report_batch_size_study(path, console)
    elif (path / "tune.json").exists():
        from batchlab.report.tune_summary import report_tune_study

        report_tune_study(path, console)
    else:
        report_run(path, console)


def report_run(path: str | Path, console: Console) -> None:
    """Print the run's facts, metrics table and test metrics; redraw ``plots/learning_curves.png``."""
    run = RunDirectory(path)
    run.require_run()
    info = run.read_json("run.json")
    rows = read_metrics_csv(run.metrics_file) if run.metrics_file.exists() else []
    console.print(f"[bold]{run.path}[/bold]  status: {info.get('status')}  ({info.get('stop_reason') or '-'})")
    if info.get("summary"):
        console.print(info["summary"])
    if rows:
        console.print(metrics_table(rows))
        plot = plot_learning_curves(
            rows,
            run.plots / "learning_curves.png",
            best_epoch=info.get("best_epoch"),
            stopped_epoch=info.get("stopped_epoch"),
            title=run.path.name,
        )
        console.print(f"Plot: {plot}")
    if run.test_metrics_file.exists():
        metrics = run.read_json("test_metrics.json")
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        console.print("Test: " + ", ".join(f"{k} {v:.4g}" for k, v in scalars.items()))
        if "confusion_matrix" in metrics:
            console.print(confusion_table(metrics["confusion_matrix"], info.get("classes")))


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
