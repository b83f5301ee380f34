"""Reports and plots of range tests and learning-rate studies."""

from __future__ import annotations

import doctest
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import batchlab
from batchlab.lr_range.curve import rate_grid, smooth_losses, suggest
from batchlab.report import lr_summary
from batchlab.report.lr_plots import lr_batch_figure, range_test_figure
from batchlab.report.lr_study import analyze_records, report_lr_batch_study
from batchlab.report.summary import report_path

PNG = b"\x89PNG"


def _record(rule: str = "min10") -> dict[str, Any]:
    rates = rate_grid(1e-5, 10.0, 60)
    losses = [
        2.0 - math.tanh((math.log(r) - math.log(3e-3)) / 0.8) + (0.0 if r < 0.3 else 40.0 * (r - 0.3)) for r in rates
    ]
    smoothed = smooth_losses(losses, 0.9)
    found = suggest(rates, smoothed, skip=6)
    return {
        "kind": "lr-find",
        "name": "toy",
        "status": "finished",
        "settings": {"min_lr": 1e-5, "max_lr": 10.0, "steps": 60, "mode": "exp", "smooth": 0.9, "diverge": 4.0},
        "rule": rule,
        "suggestions": found.to_dict(),
        "initial_loss": 3.0,
        "stop_reason": "reached the last rate, 10, without diverging",
        "diverged": False,
        "points": len(rates),
        "curve": {"lr": rates, "loss": losses, "smoothed": smoothed},
        "notes": ["a note"],
        "info": {"lr_batch": 64, "optimizer": {"name": "adam"}, "seconds": 2.0, "seed": 0},
    }


def _legend(fig: Any) -> list[str]:
    return [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()]


def test_the_range_test_figure_marks_both_suggestions_on_a_log_axis() -> None:
    record = _record("steepest")
    fig = range_test_figure(record)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    labels = _legend(fig)
    found = record["suggestions"]
    assert f"steepest descent: {found['steepest']:.3g} (suggested)" in labels
    assert f"minimum {found['best_rate']:.3g} / 10 = {found['min10']:.3g}" in labels
    assert "initial loss 3" in labels
    assert ax.get_ylim()[1] < 10  # the divergence at the end does not flatten the curve


def test_report_of_a_range_test_folder_prints_it_and_redraws_the_plot(tmp_path: Path) -> None:
    (tmp_path / "lr").mkdir()
    (tmp_path / "lr" / "lr_find.json").write_text(json.dumps(_record()))
    out = io.StringIO()
    report_path(tmp_path / "lr", Console(file=out, width=200))
    text = out.getvalue()
    assert "range test of 'toy'" in text and "Note: a note" in text
    assert "minimum of the smoothed loss / 10" in text and "<- suggested (--rule min10)" in text
    assert (tmp_path / "lr" / "plots" / "lr_find.png").read_bytes()[:4] == PNG


def test_report_of_a_run_directory_with_a_range_test_shows_both(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: mine\n")
    (run / "run.json").write_text(json.dumps({"status": "finished", "stop_reason": "completed 3 epochs"}))
    (run / "lr_find.json").write_text(json.dumps(_record()))
    out = io.StringIO()
    report_path(run, Console(file=out, width=200))
    assert "status: finished" in out.getvalue() and "Suggested learning rates:" in out.getvalue()


def test_a_damaged_range_test_is_one_line(tmp_path: Path) -> None:
    from batchlab.errors import CheckpointError
    from batchlab.report.lr_summary import report_range_test

    (tmp_path / "lr_find.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        report_range_test(tmp_path, Console(file=io.StringIO()))


def _study_records(n_sizes: int = 3) -> list[dict[str, Any]]:
    records = []
    for i, batch in enumerate([8, 32, 128, 512][:n_sizes]):
        for seed in range(2):
            record = _record()
            shift = 0.5 * i + 0.05 * seed  # min/10 grows as B^(log10(e^0.5 * ...)): any positive slope
            record["curve"]["lr"] = [r * math.exp(shift) for r in record["curve"]["lr"]]
            for key in ("min10", "steepest", "best_rate"):
                record["suggestions"][key] *= math.exp(shift)
            records.append(
                {**record, "cell": f"b{batch}-s{seed}", "batch": batch, "batch_label": str(batch), "seed": seed}
            )
    return records


def test_the_study_figure_draws_the_fit_beside_both_rules() -> None:
    records = _study_records()
    analysis = analyze_records(records, "min10")
    fig = lr_batch_figure(analysis, records)
    fit_ax, _ = fig.axes
    assert fit_ax.get_xscale() == fit_ax.get_yscale() == "log"
    labels = _legend(fig)
    assert "linear rule (slope 1)" in labels and "square-root rule (slope 1/2)" in labels
    assert any(label.startswith("fit: exponent ") for label in labels)
    assert {"batch 8", "batch 32", "batch 128"} <= set(labels)
    assert analysis.fit is not None and analysis.fit.points == 6


def test_report_of_a_study_writes_results_and_the_plot(tmp_path: Path) -> None:
    from batchlab.lr_range.range_test import RangeSettings
    from batchlab.study.lr_batch import LRBatchStudy, run_lr_batch_study

    config = {"data": {"source": "iris"}, "model": {"name": "mlp", "hidden": [8]}, "train": {"threads": 1}}
    settings = RangeSettings(min_lr=1e-3, max_lr=100.0, steps=12)
    run_lr_batch_study(
        batchlab.Config.model_validate(config), LRBatchStudy(sizes=(4, 16, 64), settings=settings), tmp_path
    )
    out = io.StringIO()
    analyses = report_lr_batch_study(tmp_path, Console(file=out, width=250))
    text = out.getvalue()
    assert "3 of 3 range tests finished" in text
    assert "minimum of the smoothed loss / 10: lr ∝ B^" in text and "steepest descent of the smoothed loss: " in text
    assert "- Over batch sizes 4 to 64" in text
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["fits"]) == {"steepest", "min10"}
    assert results["fits"]["min10"]["fit"]["exponent"] == pytest.approx(analyses["min10"].fit.exponent)  # type: ignore[union-attr]
    assert (tmp_path / "results.csv").read_text().splitlines()[0].startswith("cell,size,batch,seed,steepest,min10")
    assert (tmp_path / "plots" / "lr_vs_batch.png").read_bytes()[:4] == PNG


def test_docstring_examples() -> None:
    result = doctest.testmod(lr_summary)
    assert result.failed == 0 and result.attempted > 0
