"""The HTML report of one run: its facts, test metrics, learning curves, confusion matrix (classification),
example spectrograms (audio runs), metric table and config."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from batchlab.experiment.rundir import RunDirectory
from batchlab.report.html.page import Code, Facts, Page, Section, Table, Text, cell, image_from_file, rows_table
from batchlab.report.plots import plot_confusion_matrix, plot_learning_curves
from batchlab.report.summary import read_metrics_csv

__all__ = ["MAX_METRIC_ROWS", "run_page"]

MAX_METRIC_ROWS = 500
"""Rows of ``metrics.csv`` shown in the table (the learning curves show every row)."""


def run_page(path: str | Path) -> Page:
    """The report of the run directory ``path``.

    Raises:
        CheckpointError: ``path`` is not a run directory.
    """
    run = RunDirectory(path)
    run.require_run()
    info: dict[str, Any] = run.read_json("run.json") if run.run_file.exists() else {}
    rows = read_metrics_csv(run.metrics_file) if run.metrics_file.exists() else []
    test: dict[str, Any] = run.read_json("test_metrics.json") if run.test_metrics_file.exists() else {}
    config = run.read_config()
    page = Page(
        title=f"Run {run.path.name}",
        subtitle=f"{config.model.name} on {config.data.source}: {info.get('task', config.data.task)}, "
        f"status {info.get('status', 'unknown')}",
        kind="run",
    )
    page.sections.append(_overview(info, rows, test))
    with tempfile.TemporaryDirectory(prefix="batchlab-report-") as scratch:
        figures = Path(scratch)
        if rows:
            curves = plot_learning_curves(
                rows,
                figures / "learning_curves.png",
                best_epoch=info.get("best_epoch"),
                stopped_epoch=info.get("stopped_epoch"),
                title=run.path.name,
            )
            page.sections.append(
                Section(
                    "Learning curves",
                    "curves",
                    [image_from_file(curves, "learning curves", "Loss and the main metric against epoch.")],
                )
            )
        matrix = test.get("confusion_matrix")
        if matrix:
            classes = info.get("classes")
            drawn = plot_confusion_matrix(matrix, figures / "confusion.png", classes)
            names = [str(c) for c in classes] if classes else [str(i) for i in range(len(matrix))]
            table = Table(
                ("true \\ predicted", *names),
                tuple((name, *(cell(int(v)) for v in row)) for name, row in zip(names, matrix, strict=True)),
                caption="Counts of test samples",
            )
            blocks = [image_from_file(drawn, "confusion matrix", "Test split; colour: share of the true class."), table]
            page.sections.append(Section("Confusion matrix", "confusion", blocks))  # type: ignore[arg-type]
    spectrograms = run.plots / "spectrograms.png"
    if spectrograms.is_file():  # drawn by train and report for audio runs (it needs the recordings)
        caption = "Test recordings with their true and predicted labels (from plots/spectrograms.png)."
        page.sections.append(
            Section("Example spectrograms", "spectrograms", [image_from_file(spectrograms, "spectrograms", caption)])
        )
    if rows:
        page.sections.append(
            Section("Metrics by epoch", "metrics", [rows_table(rows, caption="metrics.csv", limit=MAX_METRIC_ROWS)])
        )
    page.sections.append(
        Section("Config", "config", [Code(run.config_file.read_text(encoding="utf-8"))]),
    )
    return page


def _overview(info: dict[str, Any], rows: list[dict[str, Any]], test: dict[str, Any]) -> Section:
    facts = []
    for key, name in (
        ("status", "status"),
        ("stop_reason", "stopped because"),
        ("task", "task"),
        ("model", "model"),
        ("parameters", "parameters"),
        ("train_samples", "training samples"),
        ("batch_size", "batch size"),
        ("batches_per_epoch", "batches per epoch"),
        ("best_epoch", "best epoch"),
        ("stopped_epoch", "stopped at epoch"),
    ):
        if info.get(key) not in (None, ""):
            facts.append((name, cell(info[key])))
    if rows:
        last = rows[-1]
        facts.append(("epochs logged", cell(len(rows))))
        for key in ("step", "samples", "seconds"):
            if last.get(key) is not None:
                facts.append((f"{key} at the end", cell(last[key])))
    blocks: list[Any] = [Facts(tuple(facts))]
    if info.get("summary"):
        blocks.append(Text(str(info["summary"])))
    scalars = {k: v for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if scalars:
        blocks.append(
            Table(("metric", "test"), tuple((k, cell(float(v))) for k, v in scalars.items()), caption="Test metrics")
        )
    elif not test:
        blocks.append(Text("No test metrics: the run has no test split, or it did not finish."))
    return Section("Overview", "overview", blocks)
