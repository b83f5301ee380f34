"""``batchlab report STUDY_DIR``: the table, CSV/JSON results, conclusions and plots of a batch-size study,
from hand-made cells whose steps to target follow S = S_min + E_min / B (S_min 20, E_min 2,000: B_crit 100)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.console import Console

from batchlab.report.study_summary import report_batch_size_study
from batchlab.study.directory import StudyDirectory
from batchlab.study.results import StudyAnalysis

N = 1000
SIZES = [4, 16, 64, 256, 1000]


def _cell(size: int, seed: int) -> dict:
    steps_to_target = round((20 + 2000 / size) * (1 + 0.03 * seed))
    steps_per_epoch = -(-N // size)
    total = steps_per_epoch * 10
    curve = []
    for step in range(steps_per_epoch, total + 1, steps_per_epoch):
        accuracy = 0.99 if step >= steps_to_target else 0.5 + 0.4 * step / steps_to_target
        curve.append(
            {
                "epoch": step // steps_per_epoch,
                "step": step,
                "samples": step * size,
                "val_accuracy": accuracy,
                "seconds": step * 0.002,
                "train_seconds": step * 0.001 * (1 + size / 100),
            }
        )
    # Reached exactly at the row of the first multiple of steps_per_epoch at or above steps_to_target.
    return {
        "name": f"b{'full' if size == N else size}-s{seed}",
        "size": "full" if size == N else str(size),
        "batch_size": size,
        "effective_batch": size,
        "seed": seed,
        "status": "finished",
        "lr": 0.01 * size / 16,
        "train_samples": N,
        "batches_per_epoch": steps_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "steps": total,
        "samples": total * size,
        "epochs": total * size / N,
        "train_seconds": curve[-1]["train_seconds"],
        "final": {"train_accuracy": 0.995, "val_accuracy": 0.99 - 0.001 * seed, "train_loss": 0.02, "val_loss": 0.05},
        "curve": curve,
        "memory": {"peak_rss": 300 * 2**20 + size * 2**14, "rss_growth": size * 2**14, "cuda_peak": None},
    }


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = StudyDirectory(tmp_path_factory.mktemp("report") / "study")
    directory.runs.mkdir(parents=True)
    directory.write(
        {
            "kind": "batch-size",
            "name": "fake",
            "train_samples": N,
            "sizes": ["4", "16", "64", "256", "full"],
            "seeds": [0, 1, 2],
            "target": {"metric": "val_accuracy", "value": 0.95, "mode": "max"},
        }
    )
    for size in SIZES:
        for seed in range(3):
            cell = _cell(size, seed)
            directory.run_dir(cell["name"]).mkdir()
            directory.write_cell(cell["name"], cell)
    return directory.path


@pytest.fixture(scope="module")
def reported(study_dir: Path) -> tuple[StudyAnalysis, str]:
    console = Console(record=True, width=240)
    analysis = report_batch_size_study(study_dir, console)
    return analysis, console.export_text()


def test_report_prints_the_table_and_plain_conclusions(reported: tuple[StudyAnalysis, str]) -> None:
    analysis, text = reported
    assert "15 of 15 cells finished" in text and "target val_accuracy >= 0.95" in text
    for column in ("/epoch", "to target", "gap", "train-val", "samples/s", "peak RSS"):
        assert column in text
    assert "full (1,000)" in text
    assert "Fastest to val_accuracy >= 0.95 in wall time: batch" in text
    assert "Fewest samples to val_accuracy >= 0.95: batch 4" in text
    assert "Knee of the steps-to-target curve: B_crit" in text
    # Steps are taken at whole epochs, so the fit sees a coarsened curve; it still lands near 100.
    assert analysis.fit is not None and analysis.fit.status == "fit"
    assert 60 < analysis.fit.b_crit < 160
    assert len(analysis.seed_fits) == 3


def test_report_writes_csv_json_and_every_plot(study_dir: Path, reported: tuple[StudyAnalysis, str]) -> None:
    rows = list(csv.DictReader((study_dir / "results.csv").open()))
    assert len(rows) == 15 and {"steps_to_target", "samples_to_target", "gap", "peak_rss"} <= set(rows[0])
    summary = list(csv.DictReader((study_dir / "summary.csv").open()))
    assert [r["size"] for r in summary] == ["4", "16", "64", "256", "full"]
    assert float(summary[0]["steps_to_target_mean"]) == 750  # reached in epoch 3 of 250 steps by every seed
    result = json.loads((study_dir / "results.json").read_text())
    assert result["critical_batch"]["status"] == "fit" and result["conclusions"]
    for name in ("steps_to_target", "time_to_target", "final_metric", "learning_curves", "throughput_memory"):
        assert (study_dir / "plots" / f"{name}.png").stat().st_size > 10_000, name


def test_noise_scale_is_compared_with_the_knee(study_dir: Path, reported: tuple[StudyAnalysis, str]) -> None:
    measurements = [
        {"step": s, "samples": s * 16, "grad_sq": 1.0, "trace": 150.0, "noise_scale": 150.0} for s in range(10, 400, 10)
    ]
    curve = [
        {"step": s, "samples": s * 16, "train_seconds": s / 100, "val_accuracy": min(0.99, s / 200)}
        for s in range(10, 400, 10)
    ]
    StudyDirectory(study_dir).write_json(
        "noise_scale.json",
        {
            "kind": "noise-scale",
            "batch_size": 16,
            "b_small": 16,
            "micro_batches": 4,
            "measurements": measurements,
            "curve": curve,
        },
    )
    console = Console(record=True, width=240)
    analysis = report_batch_size_study(study_dir, console)
    assert analysis.fit is not None
    assert f"ratio B_simple / B_crit = {150 / analysis.fit.b_crit:.2f}" in console.export_text()
    assert (study_dir / "plots" / "noise_scale.png").exists()
    assert json.loads((study_dir / "results.json").read_text())["noise_scale"]["b_simple_at_target"] == 150.0


def test_a_study_without_finished_cells_reports_so(tmp_path: Path) -> None:
    directory = StudyDirectory(tmp_path / "empty")
    directory.path.mkdir()
    directory.write({"kind": "batch-size", "name": "x", "sizes": ["8"], "seeds": [0], "target": None})
    console = Console(record=True, width=200)
    report_batch_size_study(directory.path, console)
    assert "0 of 1 cell finished" in console.export_text()


def test_the_noise_scale_plot_says_its_line_is_a_ratio_of_moving_averages() -> None:
    from batchlab.report.study_plots import noise_scale_figure

    # Single measurements scatter (one even negative); the line is the ratio of their moving averages.
    measurements = [
        {"step": 10, "samples": 160, "grad_sq": 1.0, "trace": 100.0, "noise_scale": 100.0},
        {"step": 20, "samples": 320, "grad_sq": 0.5, "trace": 150.0, "noise_scale": 145.0},
        {"step": 30, "samples": 480, "grad_sq": -0.1, "trace": 90.0, "noise_scale": 180.0},
    ]
    noise = {"batch_size": 16, "b_small": 16, "micro_batches": 4, "ema": 0.9, "measurements": measurements}
    fig = noise_scale_figure(noise)
    assert fig is not None
    (ax,) = fig.axes
    labels = {line.get_label(): line for line in ax.get_lines()}
    line = labels["B_simple = EMA tr(Σ) / EMA |G|² (decay 0.9)"]
    assert list(line.get_ydata()) == [100.0, 145.0, 180.0]
    assert not any("moving average)" in label for label in labels)
    (dots,) = ax.collections  # the finite, positive single-measurement ratios
    assert dots.get_label() == "tr(Σ) / |G|² of one measurement"
    assert [tuple(p) for p in dots.get_offsets()] == [(10.0, 100.0), (20.0, 300.0)]


def _visible_numbers(axis: object, low: float, high: float) -> list[str]:
    ticks = axis.get_major_ticks() + axis.get_minor_ticks()  # type: ignore[attr-defined]
    return [
        t.label1.get_text()
        for t in ticks
        if t.label1.get_visible() and t.label1.get_text() and low <= t.get_loc() <= high
    ]


def test_the_steps_to_target_plot_numbers_its_y_axes_within_one_decade() -> None:
    from batchlab.report.study_plots import steps_to_target_figure
    from batchlab.study.results import analyze_study
    from batchlab.study.targets import parse_target

    # Samples to target 20 B + 2,000 for B = 16..256: 2,320 to 7,120, no power of ten in between.
    cells = [_cell(size, 0) for size in (16, 64, 256)]
    analysis = analyze_study(cells, parse_target("val_accuracy=0.95"))
    fig = steps_to_target_figure(analysis)
    assert fig is not None
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_ylim()
        assert _visible_numbers(ax.yaxis, low, high), ax.get_ylabel()
        assert not ax.xaxis.get_minor_ticks()  # the x axis shows the batch sizes only
