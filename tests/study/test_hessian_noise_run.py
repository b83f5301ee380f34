"""``batchlab study noise-scale --hessian``: B_noise measured when the target is first reached, stored in
noise_scale.json, reported next to B_simple; the run trains exactly as without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from batchlab.config import make_config
from batchlab.report.html import write_html_report
from batchlab.report.study_summary import report_batch_size_study
from batchlab.study.cell import CellSettings
from batchlab.study.hessian_summary import hessian_line, hessian_summary
from batchlab.study.noise_run import NoiseSettings, noise_summary, run_noise_scale_study
from batchlab.study.targets import first_reached, parse_target
from tests.study.conftest import blob_config

TARGET = "val_accuracy=0.8"


def _run(blobs: Path, study_dir: Path, hessian: bool) -> dict:
    return run_noise_scale_study(
        make_config(blob_config(blobs, batch_size=4, optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})),
        study_dir,
        noise=NoiseSettings(every_steps=3, micro_batches=4, hessian_samples=48 if hessian else None, hessian_groups=8),
        settings=CellSettings(evals_per_epoch=3),
        target=parse_target(TARGET),
    )


@pytest.fixture(scope="module")
def hessian_study(blobs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    study_dir = tmp_path_factory.mktemp("hessian") / "study"
    return study_dir, _run(blobs, study_dir, hessian=True)


def test_b_noise_is_measured_when_the_target_is_first_reached(hessian_study: tuple[Path, dict]) -> None:
    study_dir, _ = hessian_study
    stored = json.loads((study_dir / "noise_scale.json").read_text())
    measured = stored["hessian"]["measurements"]
    hit = first_reached(stored["curve"], parse_target(TARGET), time_key="train_seconds")
    assert hit is not None
    assert [m["step"] for m in measured] == [hit.step]
    first = measured[0]
    assert first["at_target"] and first["samples"] == 48 and first["groups"] == 8
    for name in ("b_simple", "b_noise"):
        low, high = first["intervals"][name]
        assert first[name] > 0 and low <= first[name] and (high is None or first[name] <= high)  # None: inf
    assert first["lr"] == pytest.approx(stored["cell"]["lr"] / (1 - 0.9))  # SGD's step with momentum 0.9


def test_the_measurement_does_not_change_training(
    hessian_study: tuple[Path, dict], blobs: Path, tmp_path: Path
) -> None:
    _, with_hessian = hessian_study
    without = _run(blobs, tmp_path / "plain", hessian=False)
    assert "hessian" not in without
    assert [r["val_loss"] for r in with_hessian["curve"]] == [r["val_loss"] for r in without["curve"]]
    assert [m["noise_scale"] for m in with_hessian["measurements"]] == [
        m["noise_scale"] for m in without["measurements"]
    ]


def test_the_report_shows_the_three_estimates_with_intervals(hessian_study: tuple[Path, dict], tmp_path: Path) -> None:
    study_dir, result = hessian_study
    console = Console(record=True, width=400)
    report_batch_size_study(study_dir, console)
    text = console.export_text()
    summary = noise_summary(result, parse_target(TARGET))["hessian"]
    assert f"Hessian-aware noise scale when the target was first reached (step {summary['step']}, 48 examples" in text
    assert f"B_noise ≈ {summary['b_noise']:,.0f} [" in text
    results = json.loads((study_dir / "results.json").read_text())
    assert results["noise_scale"]["hessian"]["b_noise"] == pytest.approx(summary["b_noise"])
    html = write_html_report(study_dir, tmp_path / "report.html").read_text()
    assert "Hessian-aware noise scale" in html and "B_noise (samples)" in html


def test_the_summary_picks_the_target_measurement_and_converts_to_tokens() -> None:
    def measurement(step: int, at_target: bool, b: float) -> dict:
        bounds = [b / 2, b * 2]
        return {
            "step": step,
            "at_target": at_target,
            "samples": 64,
            "groups": 8,
            "b_simple": b,
            "b_noise": 2 * b,
            "b_temperature": None,
            "lr": 1.0,
            "eps_max": 0.5,
            "intervals": {"b_simple": bounds, "b_noise": [2 * x for x in bounds], "b_temperature": [None, None]},
        }

    noise = {"hessian": {"measurements": [measurement(10, False, 5.0), measurement(30, True, 7.0)]}}
    summary = hessian_summary(noise, target_step=30, tokens_per_sample=10.0)
    assert summary is not None
    assert summary["step"] == 30 and summary["b_noise"] == 14.0
    assert summary["b_noise_tokens"] == 140.0 and summary["b_noise_tokens_interval"] == [70.0, 280.0]
    line = hessian_line(summary, b_crit=280.0, unit="tokens")
    assert line is not None and "B_noise ≈ 140 [70–280], 0.50 x B_crit" in line
    assert "none (the rate exceeds eps_max" in line  # lr 1.0 >= eps_max 0.5
    assert hessian_summary({"measurements": []}, target_step=30) is None  # a file from before --hessian
    curved = {"hessian": {"measurements": [{**measurement(30, True, 7.0), "grad_h_grad": -2.0, "eps_max": None}]}}
    flagged = hessian_line(hessian_summary(curved, target_step=30))
    assert flagged is not None and "GᵀHG < 0: negative curvature along the gradient" in flagged


def test_groups_larger_than_the_sample_are_refused_on_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from batchlab.cli import app

    config = tmp_path / "c.yaml"
    config.write_text("data: {source: digits}\n")
    result = CliRunner().invoke(
        app, ["study", "noise-scale", str(config), "--hessian", "--hessian-samples", "16", "--hessian-groups", "32"]
    )
    assert result.exit_code == 2
    assert "--hessian-groups: 32 groups cannot be formed from --hessian-samples 16" in result.output
    assert not (tmp_path / "studies").exists()


def test_the_noise_scale_plot_marks_the_hessian_measurements(hessian_study: tuple[Path, dict]) -> None:
    from batchlab.report.study_plots import noise_scale_figure

    _, result = hessian_study
    figure = noise_scale_figure(result)
    assert figure is not None
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "B_noise (90% interval)" in labels and "B_simple, per-example (90% interval)" in labels
