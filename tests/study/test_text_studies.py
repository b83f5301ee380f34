"""Batch-size studies of a text classifier, end to end on short synthetic texts: a study in token budgets
(tokens to target from the ``tokens`` column, the critical-batch fit in valid tokens per step, the LR scaled
by tokens), a study in samples, the one-unit rule, and the noise scale in tokens."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from batchlab.config import load_config, make_config
from batchlab.data.pipeline import prepare_data
from batchlab.errors import ConfigError
from batchlab.report.study_summary import report_batch_size_study
from batchlab.study.batch_size import BatchSizeStudy, run_batch_size_study
from batchlab.study.budget import parse_budget
from batchlab.study.cell import CellSettings
from batchlab.study.critical import fit_critical_batch
from batchlab.study.noise_run import NoiseSettings, noise_summary, run_noise_scale_study
from batchlab.study.plan import epoch_plan
from batchlab.study.results import analyze_study
from batchlab.study.sizes import parse_sizes
from batchlab.study.targets import parse_target
from tests.study.conftest import blob_config, text_config

TARGET = parse_target("val_accuracy=0.9")
LR = 0.01


def _metrics(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def _first_hit(rows: list[dict[str, str]]) -> dict[str, str] | None:
    return next((r for r in rows if r.get("val_accuracy") and float(r["val_accuracy"]) >= TARGET.value), None)


@pytest.fixture(scope="module")
def token_study(texts: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Budgets of 64, 128 and 256 tokens, linear LR scaling from the config's 128 tokens, 4 epochs."""
    study_dir = tmp_path_factory.mktemp("tokens") / "study"
    study = BatchSizeStudy(
        sizes=tuple(parse_sizes("2^6..2^8tokens")),
        target=TARGET,
        settings=CellSettings(budget=parse_budget("4epochs"), lr_rule="linear", evals_per_epoch=6),
    )
    cells = run_batch_size_study(make_config(text_config(texts, batch_size="128tokens")), study, study_dir)
    return study_dir, cells


def test_token_cells_train_at_their_budget_with_steps_from_their_batches(
    token_study: tuple[Path, list[dict[str, Any]]],
) -> None:
    study_dir, cells = token_study
    assert [c["name"] for c in cells] == ["b64tokens-s0", "b128tokens-s0", "b256tokens-s0"]
    study = json.loads((study_dir / "study.json").read_text())
    assert study["unit"] == "tokens" and study["sizes"] == ["64tokens", "128tokens", "256tokens"]
    for cell in cells:
        run = study_dir / "runs" / cell["name"]
        config = load_config(run / "config.yaml")
        budget = int(cell["size"].removesuffix("tokens"))
        assert config.train.batch_size == cell["size"] and (cell["unit"], cell["token_budget"]) == ("tokens", budget)
        info = json.loads((run / "run.json").read_text())
        steps = epoch_plan(config, prepare_data(config.data)).steps
        assert info["steps_per_epoch"] == steps == cell["steps_per_epoch"]
        assert config.train.val_every_steps == steps // 6
        assert info["lr"] == pytest.approx(LR * budget / 128)  # linear in tokens from the config's budget


def test_a_token_study_reports_tokens_to_target_from_the_tokens_column(
    token_study: tuple[Path, list[dict[str, Any]]],
) -> None:
    study_dir, cells = token_study
    analysis = analyze_study(cells, TARGET)
    assert analysis.unit == "tokens"
    reached = 0
    for row, cell in zip(analysis.rows, cells, strict=True):
        metrics = _metrics(study_dir / "runs" / cell["name"])
        hit = _first_hit(metrics)
        if hit is None:
            assert row["tokens_to_target"] is None
            continue
        reached += 1
        assert row["tokens_to_target"] == int(hit["tokens"])
        assert row["steps_to_target"] == int(hit["step"])
        assert row["tokens_per_step"] == pytest.approx(int(metrics[-1]["tokens"]) / int(metrics[-1]["step"]))
    assert reached >= 2


def test_the_knee_of_a_token_study_is_fitted_in_valid_tokens_per_step(
    token_study: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, cells = token_study
    analysis = analyze_study(cells, TARGET)
    points = [(r["tokens_per_step"], r["steps_to_target"]) for r in analysis.rows if r["steps_to_target"]]
    expected = fit_critical_batch([p[0] for p in points], [p[1] for p in points])
    assert analysis.fit is not None and analysis.fit.size_range == expected.size_range
    assert analysis.fit.size_range[1] < 256  # measured valid tokens, below the padded-token budgets
    assert analysis.fit.status == expected.status and analysis.fit.e_min == pytest.approx(expected.e_min)


def test_the_report_of_a_token_study_labels_its_unit(token_study: tuple[Path, list[dict[str, Any]]]) -> None:
    study_dir, _ = token_study
    console = Console(record=True, width=260)
    report_batch_size_study(study_dir, console)
    text = console.export_text()
    assert "batch sizes in tokens" in text and "by token budget" in text and "tokens/step" in text
    assert "Fewest tokens to val_accuracy >= 0.9: batch" in text
    rows = list(csv.DictReader((study_dir / "results.csv").open()))
    assert {r["size"] for r in rows} == {"64tokens", "128tokens", "256tokens"} and rows[0]["unit"] == "tokens"
    assert any(r["tokens_to_target"] for r in rows)
    assert json.loads((study_dir / "results.json").read_text())["unit"] == "tokens"
    for name in ("steps_to_target", "learning_curves", "throughput_memory"):
        assert (study_dir / "plots" / f"{name}.png").stat().st_size > 10_000, name


def test_a_sample_study_of_text_reports_samples_and_tokens_to_target(texts: Path, tmp_path: Path) -> None:
    study = BatchSizeStudy(
        sizes=(4, 16), target=TARGET, settings=CellSettings(budget=parse_budget("4epochs"), evals_per_epoch=4)
    )
    cells = run_batch_size_study(make_config(text_config(texts)), study, tmp_path / "study")
    assert [c["steps_per_epoch"] for c in cells] == [math.ceil(240 / 4), math.ceil(240 / 16)]
    analysis = analyze_study(cells, TARGET)
    assert analysis.unit == "samples" and [r["batch_size"] for r in analysis.rows] == [4, 16]
    for row, cell in zip(analysis.rows, cells, strict=True):
        hit = _first_hit(_metrics(tmp_path / "study" / "runs" / cell["name"]))
        assert hit is not None, cell["name"]
        assert (row["samples_to_target"], row["tokens_to_target"]) == (int(hit["samples"]), int(hit["tokens"]))
    console = Console(record=True, width=260)
    report_batch_size_study(tmp_path / "study", console)
    assert "Fewest samples to val_accuracy >= 0.9: batch" in console.export_text()
    assert "tokens_to_target_mean" in next(csv.reader((tmp_path / "study" / "summary.csv").open()))


def test_a_study_mixing_units_or_tokens_without_text_fails_before_writing(
    texts: Path, blobs: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="a study is in one unit"):
        run_batch_size_study(make_config(text_config(texts)), BatchSizeStudy(sizes=(8, "512tokens")), tmp_path / "a")
    with pytest.raises(ConfigError, match=r"token budgets \(512tokens\) apply to text data"):
        run_batch_size_study(make_config(blob_config(blobs)), BatchSizeStudy(sizes=("512tokens",)), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_noise_scale_of_a_token_budget_run_is_given_in_valid_tokens(
    texts: Path, tmp_path: Path, token_study: tuple[Path, list[dict[str, Any]]]
) -> None:
    config = make_config(text_config(texts, batch_size="128tokens"))
    result = run_noise_scale_study(
        config,
        tmp_path / "noise",
        noise=NoiseSettings(every_steps=2, micro_batches=4, micro_batch_size=6),
        settings=CellSettings(budget=parse_budget("3epochs")),
    )
    assert result["token_budget"] == 128 and result["b_small"] == 6
    measurements = result["measurements"]
    assert len(measurements) >= 10 and all(m["tokens"] >= 24 for m in measurements)  # 24 texts of 1+ tokens
    summary = noise_summary(result, TARGET)
    per_sample = sum(m["tokens"] for m in measurements) / (24 * len(measurements))
    assert summary["tokens_per_sample"] == pytest.approx(per_sample)
    assert summary["b_simple_final_tokens"] == pytest.approx(summary["b_simple_final"] * per_sample)
    header = next(csv.reader((tmp_path / "noise" / "noise_scale" / "metrics.csv").open()))
    assert "noise_scale" in header and "noise_scale_tokens" in header
    # Compared with the knee of the token study in tokens, not in samples.
    analysis = analyze_study(token_study[1], TARGET, summary)
    sentence = next(line for line in analysis.conclusions if "Gradient noise scale" in line)
    assert "valid tokens" in sentence and "run at batch 128tokens" in sentence
    # In a directory of its own the run is the study's one cell, tabulated in tokens.
    console = Console(record=True, width=400)
    report_batch_size_study(tmp_path / "noise", console)
    text = console.export_text()
    assert "noise-scale study of 'texts': 1 finished run at batch 128tokens, 240 training samples" in text
    final, final_tokens = summary["b_simple_final"], summary["b_simple_final_tokens"]
    assert f"B_simple ≈ {final:,.0f} samples = {final_tokens:,.0f} valid tokens" in text
    (row,) = csv.DictReader((tmp_path / "noise" / "results.csv").open())
    assert (row["size"], row["unit"], row["batch_size"]) == ("128tokens", "tokens", "128")
    rows = list(csv.DictReader((tmp_path / "noise" / "noise_scale.csv").open()))
    stored = json.loads((tmp_path / "noise" / "noise_scale.json").read_text())["measurements"]
    assert len(rows) == len(stored) == len(measurements)
    for written, measured in zip(rows, stored, strict=True):
        assert float(written["tokens"]) == measured["tokens"]
        in_tokens = measured.get("noise_scale_tokens")  # None where the averages gave no finite ratio
        assert (float(written["b_simple_tokens"]) if written["b_simple_tokens"] else None) == pytest.approx(in_tokens)
    assert any(written["b_simple_tokens"] for written in rows)
