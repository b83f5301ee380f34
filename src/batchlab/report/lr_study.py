"""``batchlab report STUDY_DIR`` for a learning-rate study (``study lr-vs-batch``): the table, the exponent
of each suggestion rule with its interval, the conclusion in words and the plot, from the finished cells.

Files written into the study directory::

    results.csv            one row per range test: size, batch, seed, both suggestions, minimum, stop
    results.json           the cells, the fit of each rule (exponent, interval, windows) and the conclusions
    plots/lr_vs_batch.png  the suggested rate against the batch beside the linear and square-root rules,
                           and every range test's smoothed curve
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from batchlab.atomic import write_text
from batchlab.lr_range.curve import RULES
from batchlab.plural import counted
from batchlab.study.directory import StudyDirectory
from batchlab.study.lr_batch import cell_records
from batchlab.study.lr_exponent import LRBatchAnalysis, RatePoint, analyze_lr_batch

__all__ = ["analyze_records", "report_lr_batch_study"]


def analyze_records(records: Sequence[dict[str, Any]], rule: str, unit: str = "samples") -> LRBatchAnalysis:
    """The fit of ``rule``'s suggestions (``steepest`` or ``min10``) against the batch over ``records``."""
    points, missing = [], []
    for record in records:
        rate = record["suggestions"].get(rule)
        if rate is None:
            missing.append(record["cell"])
        else:
            points.append(RatePoint(float(record["batch"]), float(rate), int(record["seed"]), record["batch_label"]))
    return analyze_lr_batch(points, rule=rule, rule_text=RULES[rule], unit=unit, missing=missing)


def report_lr_batch_study(path: str | Path, console: Console, *, rule: str | None = None) -> dict[str, LRBatchAnalysis]:
    """Print the study's table, the exponent of each rule and the conclusions; write results and the plot.

    Args:
        path: the study directory (``study.json`` of kind ``lr-vs-batch``).
        console: where the table and the conclusions go.
        rule: the rule whose conclusions are spelled out and drawn (default: the study's).

    Returns:
        The analysis of each rule.
    """
    directory = StudyDirectory(path)
    study = directory.read()
    records = cell_records(directory.path)
    unit = str(study.get("unit", "samples"))
    chosen = rule or str(study.get("rule", "min10"))
    expected = len(study.get("sizes", [])) * len(study.get("seeds", []))
    console.print(
        f"[bold]{directory.path}[/bold]  lr-vs-batch study of {study.get('name')!r}: {len(records)} of "
        f"{counted(expected, 'range test')} finished, "
        f"{counted(int(study.get('train_samples') or 0), 'training sample')}"
        + (", batch sizes in tokens" if unit == "tokens" else ""),
        soft_wrap=True,
    )
    analyses = {name: analyze_records(records, name, unit) for name in RULES}
    if records:
        console.print(_table(records, study, chosen))
        for name, analysis in analyses.items():
            mark = "  <- fitted below" if name == chosen else ""
            console.print(f"{RULES[name]}: {analysis.headline}{mark}", soft_wrap=True, markup=False)
        for line in analyses[chosen].conclusions:
            console.print(f"- {line}", soft_wrap=True, markup=False)
    written = _write_results(directory, study, records, analyses, chosen)
    console.print("Results: " + ", ".join(str(p) for p in written), soft_wrap=True)
    if records:
        from batchlab.report.lr_plots import plot_lr_batch

        plot = plot_lr_batch(analyses[chosen], records, directory.plots / "lr_vs_batch.png")
        console.print(f"Plot: {plot}", soft_wrap=True)
    return analyses


def _table(records: Sequence[dict[str, Any]], study: dict[str, Any], chosen: str) -> Table:
    seeds = sorted({int(r["seed"]) for r in records})
    table = Table(header_style="bold", show_edge=False)
    unit = "tokens" if study.get("unit") == "tokens" else "samples"
    table.add_column("size", justify="right")
    table.add_column(f"batch ({unit})", justify="right")
    for seed in seeds:
        table.add_column(f"seed {seed}", justify="right")
    table.add_column("steepest (geo. mean)", justify="right")
    table.add_column("min/10 (geo. mean)", justify="right")
    table.add_column("diverged at (median)", justify="right")
    by_size: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_size.setdefault(record["batch_label"], []).append(record)
    for label, group in sorted(by_size.items(), key=lambda item: float(item[1][0]["batch"])):
        row = [label, f"{int(group[0]['batch']):,}"]
        for seed in seeds:
            match = [r for r in group if int(r["seed"]) == seed]
            rate = match[0]["suggestions"].get(chosen) if match else None
            row.append(f"{rate:.3g}" if rate is not None else "-")
        for name in RULES:
            row.append(_geo_mean([r["suggestions"].get(name) for r in group]))
        ends = sorted(r["curve"]["lr"][-1] for r in group if r.get("diverged"))
        row.append(f"{ends[len(ends) // 2]:.3g}" if ends else "-")
        table.add_row(*row)
    return table


def _geo_mean(rates: Sequence[float | None]) -> str:
    import math

    values = [math.log(r) for r in rates if r is not None]
    return f"{math.exp(sum(values) / len(values)):.3g}" if values else "-"


def _write_results(
    directory: StudyDirectory,
    study: dict[str, Any],
    records: Sequence[dict[str, Any]],
    analyses: dict[str, LRBatchAnalysis],
    chosen: str,
) -> list[Path]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["cell", "size", "batch", "seed", "steepest", "min10", "best_rate", "best_loss", "points", "diverged"]
    writer.writerow([*columns, "last_lr", "seconds"])
    rows = []
    for r in records:
        found = r["suggestions"]
        row = {
            "cell": r["cell"],
            "size": r["batch_label"],
            "batch": r["batch"],
            "seed": r["seed"],
            "steepest": found.get("steepest"),
            "min10": found.get("min10"),
            "best_rate": found.get("best_rate"),
            "best_loss": found.get("best_loss"),
            "points": r["points"],
            "diverged": r["diverged"],
            "last_lr": r["curve"]["lr"][-1] if r["curve"]["lr"] else None,
            "seconds": r.get("info", {}).get("seconds"),
        }
        rows.append(row)
        writer.writerow(["" if v is None else v for v in row.values()])
    csv_path = directory.path / "results.csv"
    write_text(csv_path, buffer.getvalue())
    fits = {
        name: {
            "rule_text": a.rule_text,
            "fit": a.fit.to_dict() if a.fit is not None else None,
            "windows": {k: (w.to_dict() if w is not None else None) for k, w in a.windows.items()},
            "local_exponents": [{"from": b0, "to": b1, "exponent": k} for b0, b1, k in a.local],
            "headline": a.headline,
            "conclusions": a.conclusions,
            "missing": a.missing,
        }
        for name, a in analyses.items()
    }
    json_path = directory.path / "results.json"
    content = {"kind": study.get("kind"), "name": study.get("name"), "rule": chosen, "fits": fits, "cells": rows}
    write_text(json_path, json.dumps(content, indent=2) + "\n")
    return [csv_path, json_path]
