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
from tests.report.conftest import N, study_cell

SIZES = [4, 16, 64, 256, 1000]


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
            cell = study_cell(size, seed)
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


# A token study: budgets B_t padded tokens per step whose batches hold 0.8 B_t valid tokens; steps to target
# follow S = S_min + E_min / B with B in valid tokens per step (S_min 20, E_min 16,000 tokens: B_crit 800).
BUDGETS = [100, 400, 1600, 6400]
FILL = 0.8


def _token_cell(budget: int) -> dict:
    per_step = FILL * budget
    steps_to_target = -(-(20 * per_step + 16_000) // per_step)  # ceil: evaluated after every step
    total = int(steps_to_target) + 10
    curve = [
        {
            "epoch": 1,
            "step": step,
            "samples": step * budget // 40,
            "tokens": round(step * per_step),
            "val_accuracy": 0.99 if step >= steps_to_target else 0.5,
            "seconds": step * 0.002,
            "train_seconds": step * 0.001,
        }
        for step in range(1, total + 1)
    ]
    return {
        "name": f"b{budget}tokens-s0",
        "size": f"{budget}tokens",
        "unit": "tokens",
        "token_budget": budget,
        "batch_size": budget // 40,
        "effective_batch": budget // 40,
        "seed": 0,
        "status": "finished",
        "lr": 0.001 * budget / 400,
        "train_samples": 2000,
        "epoch_samples": 2000,
        "batches_per_epoch": 80_000 // budget,
        "steps_per_epoch": 80_000 // budget,
        "steps": total,
        "samples": curve[-1]["samples"],
        "tokens": curve[-1]["tokens"],
        "tokens_per_step": curve[-1]["tokens"] / total,
        "epochs": curve[-1]["samples"] / 2000,
        "train_seconds": curve[-1]["train_seconds"],
        "final": {"train_accuracy": 0.99, "val_accuracy": 0.99},
        "curve": curve,
        "memory": {"peak_rss": 300 * 2**20, "rss_growth": 0, "cuda_peak": None},
    }


@pytest.fixture(scope="module")
def token_study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = StudyDirectory(tmp_path_factory.mktemp("report") / "tokens")
    directory.runs.mkdir(parents=True)
    directory.write(
        {
            "kind": "batch-size",
            "name": "text",
            "unit": "tokens",
            "train_samples": 2000,
            "train_tokens": 64_000,
            "sizes": [f"{b}tokens" for b in BUDGETS],
            "seeds": [0],
            "target": {"metric": "val_accuracy", "value": 0.95, "mode": "max"},
        }
    )
    for budget in BUDGETS:
        cell = _token_cell(budget)
        directory.run_dir(cell["name"]).mkdir()
        directory.write_cell(cell["name"], cell)
    measurements = [
        {"step": s, "samples": s * 10, "grad_sq": 1.0, "trace": 30.0, "noise_scale": 30.0, "tokens": 16 * 25.0}
        for s in range(2, 200, 2)
    ]
    curve = [
        {"step": s, "samples": s * 10, "train_seconds": s / 100, "val_accuracy": min(0.99, s / 100)}
        for s in range(2, 200, 2)
    ]
    directory.write_json(
        "noise_scale.json",
        {
            "kind": "noise-scale",
            "batch_size": 10,
            "token_budget": 400,
            "b_small": 4,
            "b_big": 16,
            "micro_batches": 4,
            "measurements": measurements,
            "curve": curve,
        },
    )
    return directory.path


def test_a_token_study_reports_tokens_and_fits_the_knee_in_valid_tokens(token_study_dir: Path) -> None:
    console = Console(record=True, width=260)
    analysis = report_batch_size_study(token_study_dir, console)
    text = console.export_text()
    assert analysis.unit == "tokens" and analysis.fit is not None and analysis.fit.status == "fit"
    assert analysis.fit.b_crit == pytest.approx(800, rel=0.1)
    assert analysis.fit.size_range == pytest.approx((0.8 * 100, 0.8 * 6400), rel=0.01)
    assert "(64,000 tokens), batch sizes in tokens" in text and "by token budget" in text
    assert "tokens/s" in text and "samples/s" not in text
    assert "Fewest tokens to val_accuracy >= 0.95: batch 100tokens" in text
    assert f"B_crit = E_min/S_min ≈ {analysis.fit.b_crit:,.0f} valid tokens" in text
    assert f"token budget of about {analysis.fit.b_crit / FILL:,.0f}" in text
    rows = list(csv.DictReader((token_study_dir / "results.csv").open()))
    for row, budget in zip(rows, BUDGETS, strict=True):
        expected = _token_cell(budget)["curve"]
        hit = next(r for r in expected if r["val_accuracy"] >= 0.95)
        assert int(row["tokens_to_target"]) == hit["tokens"] and int(row["steps_to_target"]) == hit["step"]


def test_the_noise_scale_is_compared_with_the_token_knee_in_tokens(token_study_dir: Path) -> None:
    console = Console(record=True, width=260)
    analysis = report_batch_size_study(token_study_dir, console)
    assert analysis.fit is not None
    text = console.export_text()
    assert "B_simple ≈ 750 valid tokens (30 samples x 25.0 valid tokens per sample)" in text
    assert "run at batch 400tokens" in text
    assert f"ratio B_simple / B_crit = {750 / analysis.fit.b_crit:.2f}" in text
    noise = json.loads((token_study_dir / "results.json").read_text())["noise_scale"]
    assert noise["tokens_per_sample"] == 25.0 and noise["b_simple_final_tokens"] == 750.0
    assert (token_study_dir / "plots" / "noise_scale.png").exists()


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
    cells = [study_cell(size, 0) for size in (16, 64, 256)]
    analysis = analyze_study(cells, parse_target("val_accuracy=0.95"))
    fig = steps_to_target_figure(analysis)
    assert fig is not None
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_ylim()
        assert _visible_numbers(ax.yaxis, low, high), ax.get_ylabel()
        assert not ax.xaxis.get_minor_ticks()  # the x axis shows the batch sizes only


def test_the_steps_to_target_plot_of_a_token_study_sits_at_valid_tokens_per_step() -> None:
    from batchlab.report.study_plots import steps_to_target_figure
    from batchlab.study.results import analyze_study
    from batchlab.study.targets import parse_target

    analysis = analyze_study([_token_cell(b) for b in BUDGETS], parse_target("val_accuracy=0.95"))
    fig = steps_to_target_figure(analysis)
    assert fig is not None
    fig.canvas.draw()
    ax_steps, ax_tokens = fig.axes
    assert ax_tokens.get_ylabel() == "valid tokens to val_accuracy >= 0.95"
    for ax in (ax_steps, ax_tokens):
        assert ax.get_xlabel() == "batch: token budget / ≈ valid tokens per step"
        assert list(ax.get_xticks()) == pytest.approx([FILL * b for b in BUDGETS], rel=0.01)
        assert ax.get_xticklabels()[0].get_text() == "100\n≈80"
        low, high = ax.get_ylim()
        assert _visible_numbers(ax.yaxis, low, high), ax.get_ylabel()
        assert not ax.xaxis.get_minor_ticks()


def test_the_noise_scale_plot_in_valid_tokens_scales_the_line_and_the_dots() -> None:
    from batchlab.report.study_plots import noise_scale_figure

    measurements = [
        {"step": 10, "samples": 160, "grad_sq": 1.0, "trace": 100.0, "noise_scale": 100.0, "tokens": 400.0},
        {"step": 20, "samples": 320, "grad_sq": 0.5, "trace": 150.0, "noise_scale": 145.0, "tokens": 400.0},
    ]
    noise = {
        "batch_size": 16,
        "token_budget": 512,
        "b_small": 4,
        "micro_batches": 4,
        "ema": 0.9,
        "measurements": measurements,
    }
    fig = noise_scale_figure(noise, tokens_per_sample=25.0)
    assert fig is not None
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert line.get_label() == "B_simple = EMA tr(Σ) / EMA |G|² (decay 0.9)"
    assert list(line.get_ydata()) == [2500.0, 3625.0]
    (dots,) = ax.collections
    assert [tuple(p) for p in dots.get_offsets()] == [(10.0, 2500.0), (20.0, 7500.0)]
    assert ax.get_ylabel() == "valid tokens (25.0 per sample)"
    assert ax.get_title().startswith("Gradient noise scale at batch 512tokens ")
