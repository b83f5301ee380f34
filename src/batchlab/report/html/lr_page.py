"""The HTML report of learning-rate range tests: one range test (``batchlab lr-find``, alone or inside a run
directory) and a learning-rate study (``batchlab study lr-vs-batch``): the summary in words, the
suggestions, the exponent of each rule and the plots."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from batchlab.report.html.page import Code, Facts, Page, Section, Text, cell, image_from_file, rows_table

__all__ = ["lr_batch_page", "range_test_page", "range_test_section"]


def range_test_section(path: str | Path) -> Section:
    """The range test in ``path`` (``lr_find.json``): its summary lines and its plot.

    Raises:
        CheckpointError: ``lr_find.json`` is missing or unreadable.
    """
    from batchlab.lr_range.files import RangeDirectory
    from batchlab.report.lr_plots import plot_range_test
    from batchlab.report.lr_summary import range_test_lines

    record = RangeDirectory(path).read()
    lines = range_test_lines(record)
    blocks: list[Any] = [Text(lines[0], items=tuple(line.strip() for line in lines[1:]))]
    with tempfile.TemporaryDirectory(prefix="batchlab-report-") as scratch:
        drawn = plot_range_test(record, Path(scratch) / "lr_find.png")
        caption = "Loss against the learning rate, raw and smoothed, with the suggested rates."
        blocks.append(image_from_file(drawn, "learning-rate range test", caption))
    return Section("Learning-rate range test", "lr-find", blocks)


def range_test_page(path: str | Path) -> Page:
    """The report of a directory that holds only a range test."""
    from batchlab.lr_range.files import RangeDirectory

    record = RangeDirectory(path).read()
    page = Page(title=f"Range test {record.get('name')!s}", subtitle=Path(path).name, kind="lr-find")
    page.sections.append(range_test_section(path))
    settings = {k: v for k, v in record.items() if k not in ("curve",)}
    page.sections.append(Section("Settings (lr_find.json)", "config", [Code(json.dumps(settings, indent=2))]))
    return page


def lr_batch_page(path: str | Path) -> Page:
    """The report of a learning-rate study directory (``study.json`` of kind ``lr-vs-batch``)."""
    from batchlab.lr_range.curve import RULES
    from batchlab.report.lr_plots import plot_lr_batch
    from batchlab.report.lr_study import analyze_records
    from batchlab.study.directory import StudyDirectory
    from batchlab.study.lr_batch import cell_records

    directory = StudyDirectory(path)
    study = directory.read()
    records = cell_records(directory.path)
    unit = str(study.get("unit", "samples"))
    chosen = str(study.get("rule", "min10"))
    expected = len(study.get("sizes", [])) * len(study.get("seeds", []))
    page = Page(
        title=f"Learning-rate study {study.get('name')!s}",
        subtitle=f"{directory.path.name}: {len(records)} of {expected} range tests finished",
        kind="lr-vs-batch",
    )
    pairs = (
        ("batch sizes", ", ".join(str(s) for s in study.get("sizes", [])) or "-"),
        ("seeds", ", ".join(str(s) for s in study.get("seeds", [])) or "-"),
        ("batch unit", unit),
        ("training samples", cell(study.get("train_samples"))),
        ("rule fitted", f"{chosen}: {RULES.get(chosen, chosen)}"),
    )
    page.sections.append(Section("Overview", "overview", [Facts(pairs)]))
    if not records:
        return page
    analyses = {name: analyze_records(records, name, unit) for name in RULES}
    rows = [
        {
            "cell": r.get("cell"),
            "batch": r.get("batch"),
            "seed": r.get("seed"),
            **{name: r["suggestions"].get(name) for name in RULES},
            "diverged": bool(r.get("diverged")),
        }
        for r in records
    ]
    page.sections.append(Section("Range tests", "table", [rows_table(rows, caption="Suggested rate of each test")]))
    headlines = tuple(f"{RULES[name]}: {analysis.headline}" for name, analysis in analyses.items())
    conclusions = Text(items=tuple(analyses[chosen].conclusions))
    page.sections.append(Section("The rate against the batch", "exponent", [Text(items=headlines), conclusions]))
    with tempfile.TemporaryDirectory(prefix="batchlab-report-") as scratch:
        drawn = plot_lr_batch(analyses[chosen], records, Path(scratch) / "lr_vs_batch.png")
        caption = "The suggested rate against the batch beside the linear and square-root rules; every test's curve."
        page.sections.append(Section("Plot", "plots", [image_from_file(drawn, "lr vs batch", caption)]))
    page.sections.append(Section("Study settings (study.json)", "config", [Code(json.dumps(study, indent=2))]))
    return page
