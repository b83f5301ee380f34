"""``batchlab report PATH --html OUT.html``: one self-contained page per run, batch-size study and tuning
study, with the numbers of the run's own files; bad ``--html`` paths are one-line errors."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from batchlab.cli import app
from batchlab.report.html import write_html_report
from batchlab.report.html.page import cell
from batchlab.study.directory import StudyDirectory
from batchlab.study.results import analyze_study
from batchlab.study.targets import Target

runner = CliRunner()


class _Page(HTMLParser):
    """The parts of a page the tests look at: image sources, every URL-bearing attribute, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.text: list[str] = []
        self.ids: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "img":
            self.images.append(named)
        if named.get("id"):
            self.ids.append(str(named["id"]))
        for key in ("src", "href", "action", "data"):
            if named.get(key):
                self.urls.append(str(named[key]))
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> tuple[_Page, str]:
    source = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(source)
    return page, source


def _check_self_contained(page: _Page, source: str) -> list[tuple[int, int]]:
    """Every image is an embedded PNG that decodes; nothing points outside the page; returns image sizes."""
    assert "<script" not in source.lower()
    assert "Content-Security-Policy" in source and "default-src 'none'" in source
    for url in page.urls:
        assert url.startswith(("data:image/png;base64,", "#")), url[:80]
    sizes = []
    for image in page.images:
        src = str(image["src"])
        data = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        with Image.open(io.BytesIO(data)) as picture:
            assert picture.format == "PNG"
            sizes.append(picture.size)
        assert image.get("alt")
    return sizes


def test_run_page_has_config_metrics_curves_and_confusion_matrix(digits_run: Path, tmp_path: Path) -> None:
    out = write_html_report(digits_run, tmp_path / "run.html")
    page, source = _parse(out)
    sizes = _check_self_contained(page, source)
    assert len(sizes) == 2 and all(w > 100 and h > 100 for w, h in sizes)  # learning curves, confusion matrix
    assert [i["alt"] for i in page.images] == ["learning curves", "confusion matrix"]
    assert {"overview", "curves", "confusion", "metrics", "config"} <= set(page.ids)
    text = " ".join(page.text)
    test = json.loads((digits_run / "test_metrics.json").read_text())
    assert cell(float(test["accuracy"])) in text and cell(float(test["f1_macro"])) in text
    # The confusion-matrix table holds the test counts row by row.
    for row in test["confusion_matrix"]:
        assert " ".join(str(v) for v in row) in " ".join(" ".join(page.text).split())
    metrics = (digits_run / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 3  # header + 2 epochs
    assert "hidden:" in text and "- 32" in text  # the config, as YAML
    assert list(tmp_path.iterdir()) == [out]  # written atomically: no temporary file left behind


def test_an_audio_runs_spectrograms_are_embedded(digits_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / "plots").mkdir(exist_ok=True)
    Image.new("RGB", (40, 30), "white").save(run / "plots" / "spectrograms.png")
    page, source = _parse(write_html_report(run, tmp_path / "run.html"))
    assert [i["alt"] for i in page.images] == ["learning curves", "confusion matrix", "spectrograms"]
    assert _check_self_contained(page, source)[-1] == (40, 30)


def test_study_page_shows_the_critical_batch_fit_and_plots(handmade_study: Path, tmp_path: Path) -> None:
    out = write_html_report(handmade_study, tmp_path / "study.html")
    page, source = _parse(out)
    sizes = _check_self_contained(page, source)
    alts = [i["alt"] for i in page.images]
    assert alts[:5] == ["steps to target", "time to target", "final metric", "learning curves", "throughput memory"]
    assert all(w > 100 and h > 100 for w, h in sizes)
    directory = StudyDirectory(handmade_study)
    study = directory.read()
    analysis = analyze_study(directory.cells(), Target(**study["target"]))
    assert analysis.fit is not None and analysis.fit.status == "fit"
    text = " ".join(" ".join(page.text).split())
    assert f"{analysis.fit.b_crit:,.1f} samples per step" in text
    assert f"{analysis.fit.s_min:,.1f}" in text
    for line in analysis.conclusions:
        assert " ".join(line.split()) in text
    # The name with markup in study.json is shown as text, never as a tag.
    assert "fake<script>" in text and "<script" not in source


def test_tune_page_shows_history_importances_and_trials(grid_tune_study: Path, tmp_path: Path) -> None:
    import optuna

    from batchlab.report.html.tune_page import parameter_importances
    from batchlab.tune.storage import open_storage

    out = write_html_report(grid_tune_study, tmp_path / "tune.html")
    page, source = _parse(out)
    _check_self_contained(page, source)
    assert [i["alt"] for i in page.images] == ["optimization history", "param importances", "slice"]
    text = " ".join(" ".join(page.text).split())
    record = json.loads((grid_tune_study / "tune.json").read_text())
    study = optuna.load_study(study_name=record["study"], storage=open_storage(None, grid_tune_study).storage)
    assert f"val_accuracy {study.best_value:.4f} (trial {study.best_trial.number})" in text
    importances = parameter_importances(study)
    assert set(importances) == {"train.batch_size", "model.hidden", "train.optimizer.lr"}
    for shares in importances.values():
        assert set(shares) == {"fanova", "mean_decrease_impurity"}
        for share in shares.values():
            assert cell(share) in text
    assert sum(s["fanova"] for s in importances.values()) == pytest.approx(1.0)
    assert parameter_importances(study) == importances  # seeded: the same trials give the same numbers
    assert "8 trials finished (8 complete" in text and source.count("<td>COMPLETE</td>") == 8


def test_cli_writes_the_page_after_the_terminal_report(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "report.html"
    done = runner.invoke(app, ["report", str(digits_run), "--html", str(out)])
    assert done.exit_code == 0, done.output
    assert f"HTML report: {out}" in done.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("problem", ["directory", "missing run"])
def test_bad_inputs_are_one_line_errors(problem: str, digits_run: Path, tmp_path: Path) -> None:
    if problem == "directory":
        args = ["report", str(digits_run), "--html", str(tmp_path)]
        expected = "is a directory; give a file name"
    else:
        args = ["report", str(tmp_path / "nope"), "--html", str(tmp_path / "x.html")]
        expected = "does not exist or is not a directory"
    done = runner.invoke(app, args)
    assert done.exit_code == 2
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchlab: error:") and expected in lines[0]
    assert not (tmp_path / "x.html").exists()


def test_range_test_and_learning_rate_study_pages(tmp_path: Path) -> None:
    from batchlab.lr_range.curve import RULES
    from batchlab.report.lr_study import analyze_records
    from batchlab.study.lr_batch import cell_records

    (tmp_path / "iris.yaml").write_text(
        "data: {source: iris}\nmodel: {hidden: [8]}\ntrain: {batch_size: 16, threads: 1, optimizer: {name: adam}}\n"
    )
    common = ["--steps", "20", "--min", "1e-4"]
    done = runner.invoke(app, ["lr-find", str(tmp_path / "iris.yaml"), *common, "--run-dir", str(tmp_path / "lrf")])
    assert done.exit_code == 0, done.output
    args = ["study", "lr-vs-batch", str(tmp_path / "iris.yaml"), "--sizes", "8,32", "--seeds", "1", *common]
    done = runner.invoke(app, [*args, "--study-dir", str(tmp_path / "lrs")])
    assert done.exit_code == 0, done.output

    page, source = _parse(write_html_report(tmp_path / "lrf", tmp_path / "lrf.html"))
    _check_self_contained(page, source)
    assert [i["alt"] for i in page.images] == ["learning-rate range test"]
    record = json.loads((tmp_path / "lrf" / "lr_find.json").read_text())
    text = " ".join(" ".join(page.text).split())
    assert f"{record['suggestions']['min10']:.3g} <- suggested" in text

    page, source = _parse(write_html_report(tmp_path / "lrs", tmp_path / "lrs.html"))
    _check_self_contained(page, source)
    assert [i["alt"] for i in page.images] == ["lr vs batch"]
    text = " ".join(" ".join(page.text).split())
    analysis = analyze_records(cell_records(tmp_path / "lrs"), "min10")
    assert f"{RULES['min10']}: {analysis.headline}" in text
